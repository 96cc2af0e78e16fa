"""Purchase: purchase orders, goods receipt notes and vendor bills."""
