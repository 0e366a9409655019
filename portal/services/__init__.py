"""Use cases: each public function is one transaction's worth of work. They flush, never commit;
the caller (a view, a job, a command) commits once when the function returns."""
