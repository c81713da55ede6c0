-- Organizations keep JumpServer's comment (it was accepted and dropped).
ALTER TABLE orgs ADD COLUMN comment TEXT NOT NULL DEFAULT '';
