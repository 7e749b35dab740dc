-- 0002: Budgets: API-side schema additions (issue 3).
SELECT 1;
