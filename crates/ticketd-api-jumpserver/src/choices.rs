//! JumpServer choice fields: `{"value","label"}` with English or Chinese labels per `Accept-Language`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Serialize;
use std::borrow::Cow;
use ticketd_core::ticket::{StepState, TicketState};

/// The language of labels and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    /// English (the default).
    En,
    /// Simplified Chinese.
    Zh,
}

impl Lang {
    /// The language's code, as `Accept-Language` names it.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// Reads `Accept-Language` much as Django does: the tags by their `q` (highest first, the
    /// header's order among equals), the first language served deciding (`zh*` Chinese, `en*`
    /// English), `*` ending the search, English when none is. Unlike Django, a tag with `q=0`
    /// ("not this one", RFC 9110) is never taken, and a malformed tag is passed over where
    /// Django ignores the whole header.
    pub(crate) fn from_parts(parts: &Parts) -> Lang {
        let header = parts
            .headers
            .get("accept-language")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Self::from_header(header)
    }

    fn from_header(header: &str) -> Lang {
        let mut tags: Vec<(u16, String)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim().to_ascii_lowercase();
                let quality = pieces
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .map(|q| q.trim().parse::<f32>().ok())
                    .next()
                    .unwrap_or(Some(1.0))?;
                // Thousandths, as the header's three decimals give them; out of range is
                // malformed, which Django skips.
                let quality = (0.0..=1.0)
                    .contains(&quality)
                    .then(|| (quality * 1000.0).round() as u16)?;
                (quality > 0).then_some((quality, tag))
            })
            .collect();
        tags.sort_by_key(|tag| std::cmp::Reverse(tag.0));
        tags.iter()
            .take_while(|(_, tag)| tag != "*")
            .find_map(|(_, tag)| {
                if tag.starts_with("zh") {
                    Some(Lang::Zh)
                } else if tag.starts_with("en") {
                    Some(Lang::En)
                } else {
                    None
                }
            })
            .unwrap_or(Lang::En)
    }

    pub(crate) fn pick<'a>(self, en: &'a str, zh: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::from_parts(parts))
    }
}

/// A choice as JumpServer renders it, `{"value": …, "label": …}` in that order.
///
/// A struct rather than a `serde_json::Value`: a page of tickets renders five per ticket, and
/// building each as a map (two key strings, an `indexmap` insert each) was 5% of a list's CPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Choice<V, L = &'static str> {
    pub(crate) value: V,
    pub(crate) label: L,
}

/// Ticket types (§2.1).
pub(crate) const TICKET_TYPES: [(&str, &str, &str); 5] = [
    ("general", "General", "一般"),
    ("apply_asset", "Apply for asset", "申请资产"),
    ("login_confirm", "Login confirm", "登录复核"),
    ("command_confirm", "Command confirm", "命令复核"),
    ("login_asset_confirm", "Login asset confirm", "登录资产复核"),
];

/// `type` as a choice.
pub(crate) fn ticket_type(kind: &str, lang: Lang) -> Choice<&str, &str> {
    let label = TICKET_TYPES
        .iter()
        .find(|(v, _, _)| *v == kind)
        .map_or(kind, |(_, en, zh)| lang.pick(en, zh));
    Choice { value: kind, label }
}

/// The JumpServer name of a core state (drafts do not exist in JumpServer; they read as pending).
pub(crate) fn state_value(state: TicketState) -> &'static str {
    match state {
        TicketState::Draft | TicketState::Pending => "pending",
        TicketState::Approved => "approved",
        TicketState::Rejected => "rejected",
        TicketState::Closed => "closed",
    }
}

/// `state` as a choice (§2.2).
pub(crate) fn ticket_state(state: TicketState, lang: Lang) -> Choice<&'static str> {
    let label = match state {
        TicketState::Draft | TicketState::Pending => lang.pick("Pending approval", "审批中"),
        TicketState::Approved => lang.pick("Approved", "已通过"),
        TicketState::Rejected => lang.pick("Rejected", "已驳回"),
        TicketState::Closed => lang.pick("Closed", "已关闭"),
    };
    Choice {
        value: state_value(state),
        label,
    }
}

/// `status`: open while pending, closed once finished (§2.3).
pub(crate) fn ticket_status(state: TicketState, lang: Lang) -> Choice<&'static str> {
    if state.is_finished() {
        Choice {
            value: "closed",
            label: lang.pick("Completed", "已完成"),
        }
    } else {
        Choice {
            value: "open",
            label: lang.pick("Pending approval", "审批中"),
        }
    }
}

/// The step state name used in `process_map`.
pub(crate) fn step_state_value(state: StepState) -> &'static str {
    state.as_str()
}

const LEVELS: [(&str, &str); 5] = [
    ("One level", "一级"),
    ("Two level", "二级"),
    ("Three level", "三级"),
    ("Four level", "四级"),
    ("Five level", "五级"),
];

/// `approval_step` / `approval_level` as a choice (§2.7); levels past five are labelled by number.
pub(crate) fn level(n: u32, lang: Lang) -> Choice<u32, Cow<'static, str>> {
    let label = usize::try_from(n)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| LEVELS.get(i))
        .map_or_else(
            || Cow::Owned(format!("Level {n}")),
            |(en, zh)| Cow::Borrowed(lang.pick(en, zh)),
        );
    Choice { value: n, label }
}

/// Action labels (§2.8).
pub(crate) fn action_label(name: &str, lang: Lang) -> &'static str {
    match (name, lang) {
        ("connect", Lang::En) => "Connect (All protocols)",
        ("connect", Lang::Zh) => "连接 (所有协议)",
        ("upload", Lang::En) => "Upload (RDP, SFTP)",
        ("upload", Lang::Zh) => "上传 (RDP, SFTP)",
        ("download", Lang::En) => "Download (RDP, SFTP)",
        ("download", Lang::Zh) => "下载 (RDP, SFTP)",
        ("copy", Lang::En) => "Copy (RDP, VNC)",
        ("copy", Lang::Zh) => "复制 (RDP, VNC)",
        ("paste", Lang::En) => "Paste (RDP, VNC)",
        ("paste", Lang::Zh) => "粘贴 (RDP, VNC)",
        ("delete", Lang::En) => "Delete (SFTP)",
        ("delete", Lang::Zh) => "删除 (SFTP)",
        ("share", Lang::En) => "Share (Web SSH, Web RDP, Web VNC)",
        ("share", Lang::Zh) => "分享 (Web SSH, Web RDP, Web VNC)",
        _ => "",
    }
}

/// An action bitmask as a list of choices, one per set bit.
pub(crate) fn actions(mask: u32, lang: Lang) -> Vec<Choice<&'static str>> {
    ticketd_core::payload::ACTIONS
        .iter()
        .filter(|(_, bit)| mask & bit != 0)
        .map(|(name, _)| Choice {
            value: *name,
            label: action_label(name, lang),
        })
        .collect()
}

/// Legacy strategy labels (v3 flows).
pub(crate) fn strategy(name: &str, lang: Lang) -> Choice<&str> {
    let label = match name {
        "super_admin" => lang.pick("Super admin", "超级管理员"),
        "org_admin" => lang.pick("Org admin", "组织管理员"),
        "super_org_admin" => lang.pick("Super admin and org admin", "超级管理员和组织管理员"),
        "custom_user" => lang.pick("Custom user", "自定义用户"),
        _ => lang.pick("Custom selector", "自定义选择器"),
    };
    Choice { value: name, label }
}

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn the_best_served_language_of_accept_language_decides() {
        for (header, lang) in [
            ("", Lang::En),
            ("zh-CN,zh;q=0.9,en;q=0.8", Lang::Zh),
            ("en-US,en;q=0.9,zh;q=0.8", Lang::En),
            // Django passes over a language it does not serve to the next one.
            ("fr;q=1, zh-CN;q=0.5", Lang::Zh),
            ("fr, de;q=0.9", Lang::En),
            // By quality, not by place; equal qualities keep the header's order.
            ("en;q=0.3, zh-hans;q=0.7", Lang::Zh),
            ("zh;q=0.5, en;q=0.5", Lang::Zh),
            // `q=0` means "not this one"; a malformed quality drops its tag.
            ("zh;q=0, en", Lang::En),
            ("zh;q=0", Lang::En),
            ("zh;q=abc, en;q=0.1", Lang::En),
            ("zh;q=2, en;q=0.1", Lang::En),
            ("ZH-TW", Lang::Zh),
            // `*` ends the search, as in Django: the default.
            ("fr, *;q=0.9, zh;q=0.8", Lang::En),
        ] {
            assert_eq!(Lang::from_header(header), lang, "{header}");
        }
    }
}
