-- System administrators are approver candidates in every organization: find them by role.
CREATE INDEX users_system_role ON users (system_role);
