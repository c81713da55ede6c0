//! JumpServer dialect tests: jms_flows.

#[allow(unused_imports)]
use crate::app::spawn_app;
