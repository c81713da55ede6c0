//! JumpServer dialect tests: jms_admin.

#[allow(unused_imports)]
use crate::app::spawn_app;
