"""The form builder: forms and approval chains built by pointing and choosing."""
