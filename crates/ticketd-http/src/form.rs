//! Form bodies (`application/x-www-form-urlencoded`, `multipart/form-data`) read into their text fields, for dialects whose products parse them.

use memchr::memmem;

/// The kind of body a request's `Content-Type` announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMedia<'a> {
    /// `application/x-www-form-urlencoded`.
    UrlEncoded,
    /// `multipart/form-data`, with its `boundary` parameter when given.
    Multipart(Option<&'a str>),
    /// Anything else, or no `Content-Type`: read as JSON.
    Other,
}

/// The body kind `content_type` announces (media types compare case-insensitively).
pub fn body_media(content_type: Option<&str>) -> BodyMedia<'_> {
    let Some(content_type) = content_type else {
        return BodyMedia::Other;
    };
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        BodyMedia::UrlEncoded
    } else if essence.eq_ignore_ascii_case("multipart/form-data") {
        let boundary = parts.find_map(|parameter| {
            let (name, value) = parameter.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| value.trim().trim_matches('"'))
        });
        BodyMedia::Multipart(boundary)
    } else {
        BodyMedia::Other
    }
}

/// Whether a body sent as a form is JSON after all: `curl -d '{…}'` announces a URL-encoded
/// form, and clients written against ticketd's JSON-first parsing send it so.
pub fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// Most fields a form may carry: Django's `DATA_UPLOAD_MAX_NUMBER_FIELDS`. A body of tiny
/// fields (`a&a&…`) would otherwise hold tens of bytes of memory per byte sent.
pub const MAX_FORM_FIELDS: usize = 1_000;

/// Why a form body cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub enum FormError {
    /// A field's text is not UTF-8.
    NotUtf8,
    /// More fields than [`MAX_FORM_FIELDS`].
    TooManyFields,
    /// A multipart body does not follow RFC 7578; the reason.
    Multipart(String),
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotUtf8 => write!(f, "Form parse error - a field is not valid UTF-8"),
            // Django's words (`TooManyFieldsSent`).
            Self::TooManyFields => write!(
                f,
                "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS ({MAX_FORM_FIELDS})."
            ),
            // Django REST framework's words (`MultiPartParser`).
            Self::Multipart(reason) => write!(f, "Multipart form parse error - {reason}"),
        }
    }
}

/// The `name=value` fields of a URL-encoded body, decoded, in order (repeated names kept).
pub fn urlencoded_fields(bytes: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    let text = std::str::from_utf8(bytes).map_err(|_utf8| FormError::NotUtf8)?;
    let mut fields = Vec::new();
    for pair in crate::query::pairs(Some(text.trim())) {
        if fields.len() == MAX_FORM_FIELDS {
            return Err(FormError::TooManyFields);
        }
        fields.push(pair);
    }
    Ok(fields)
}

/// The text fields of a multipart body, in order (repeated names kept). File parts (those with
/// a `filename`) and parts without a name are skipped: no route of ticketd takes a file.
pub fn multipart_fields(
    bytes: &[u8],
    boundary: Option<&str>,
) -> Result<Vec<(String, String)>, FormError> {
    let invalid = |reason: &str| FormError::Multipart(reason.to_owned());
    // RFC 2046: 1 to 70 characters; Django names a missing one so.
    let boundary = boundary
        .filter(|b| {
            !b.is_empty() && b.len() <= 70 && b.bytes().all(|c| c.is_ascii_graphic() || c == b' ')
        })
        .ok_or_else(|| {
            FormError::Multipart(format!(
                "Invalid boundary in multipart: {}",
                boundary.unwrap_or("None")
            ))
        })?;
    let delimiter = format!("--{boundary}");
    let part_end = format!("\r\n{delimiter}");
    let next_part = memmem::Finder::new(part_end.as_bytes());
    let mut position = if bytes.starts_with(delimiter.as_bytes()) {
        delimiter.len()
    } else {
        // A preamble before the first delimiter is allowed and ignored.
        next_part
            .find(bytes)
            .map(|at| at + 2 + delimiter.len())
            .ok_or_else(|| invalid("the body does not begin with the boundary"))?
    };
    let mut fields = Vec::new();
    loop {
        let rest = &bytes[position..];
        if rest.starts_with(b"--") {
            return Ok(fields);
        }
        // Transport padding (spaces, tabs) may follow a delimiter before its line ends.
        let padding = rest
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        let part = rest[padding..]
            .strip_prefix(b"\r\n")
            .ok_or_else(|| invalid("a boundary is not followed by a line break"))?;
        let part_start = position + padding + 2;
        let (headers, content_start) = if part.starts_with(b"\r\n") {
            ("", part_start + 2)
        } else {
            let end = memmem::find(part, b"\r\n\r\n")
                .ok_or_else(|| invalid("a part's headers do not end"))?;
            let headers = std::str::from_utf8(&part[..end]).map_err(|_utf8| FormError::NotUtf8)?;
            (headers, part_start + end + 4)
        };
        let length = next_part
            .find(&bytes[content_start..])
            .ok_or_else(|| invalid("the closing boundary is missing"))?;
        let content = &bytes[content_start..content_start + length];
        if let Some(name) = field_name(headers) {
            if fields.len() == MAX_FORM_FIELDS {
                return Err(FormError::TooManyFields);
            }
            let text = std::str::from_utf8(content).map_err(|_utf8| FormError::NotUtf8)?;
            fields.push((name, text.to_owned()));
        }
        position = content_start + length + 2 + delimiter.len();
    }
}

/// The name of a part's `Content-Disposition: form-data`, unless the part is a file.
fn field_name(headers: &str) -> Option<String> {
    let disposition = headers.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(value)
    })?;
    let mut name = None;
    for (key, value) in disposition_parameters(disposition) {
        if key.eq_ignore_ascii_case("filename") || key.eq_ignore_ascii_case("filename*") {
            return None;
        }
        if key.eq_ignore_ascii_case("name") {
            name = Some(value);
        }
    }
    name
}

/// The `key=value` parameters after a disposition's type; a quoted value's `\` escapes are read.
fn disposition_parameters(disposition: &str) -> Vec<(String, String)> {
    let mut parameters = Vec::new();
    let mut chars = disposition.chars().peekable();
    // The type (`form-data`) comes first.
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| c.is_whitespace() || *c == ';')
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() {
            return parameters;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    other => value.push(other),
                }
            }
            // Anything between the closing quote and the next `;` is not part of the value.
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ';').collect();
        }
        parameters.push((key.trim().to_owned(), value.trim_end().to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_type_names_the_body_kind() {
        assert_eq!(body_media(None), BodyMedia::Other);
        assert_eq!(body_media(Some("application/json")), BodyMedia::Other);
        assert_eq!(
            body_media(Some("Application/X-WWW-Form-URLEncoded; charset=utf-8")),
            BodyMedia::UrlEncoded
        );
        assert_eq!(
            body_media(Some("multipart/form-data; charset=utf-8; boundary=\"a b\"")),
            BodyMedia::Multipart(Some("a b"))
        );
        assert_eq!(
            body_media(Some("multipart/form-data")),
            BodyMedia::Multipart(None)
        );
    }

    #[test]
    fn a_urlencoded_body_keeps_repeated_names_in_order() {
        let fields = urlencoded_fields(b"a=1&b=x+y%2Bz&a=2&empty=&flag\n").unwrap();
        let expected = [
            ("a", "1"),
            ("b", "x y+z"),
            ("a", "2"),
            ("empty", ""),
            ("flag", ""),
        ];
        assert_eq!(fields, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
        assert_eq!(
            urlencoded_fields(b"a=%FF"),
            Ok(vec![("a".into(), "\u{fffd}".into())])
        );
        assert_eq!(
            urlencoded_fields(&[b'a', b'=', 0xff]),
            Err(FormError::NotUtf8)
        );
        let most = "a=1&".repeat(MAX_FORM_FIELDS);
        assert_eq!(
            urlencoded_fields(most.as_bytes()).unwrap().len(),
            MAX_FORM_FIELDS
        );
        let more = format!("{most}b=2");
        assert_eq!(
            urlencoded_fields(more.as_bytes()),
            Err(FormError::TooManyFields)
        );
        let part = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n";
        let many = format!("{}--b--", part.repeat(MAX_FORM_FIELDS + 1));
        assert_eq!(
            multipart_fields(many.as_bytes(), Some("b")),
            Err(FormError::TooManyFields)
        );
        assert!(looks_like_json(b" \n{\"a\":1}"));
        assert!(looks_like_json(b"[1]"));
        assert!(!looks_like_json(b"a={}"));
    }

    #[test]
    fn a_multipart_body_gives_its_text_fields_and_skips_files() {
        let body = "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\n\
                    line one\r\nline two\r\n--XyZ\r\n\
                    Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
                    Content-Type: text/plain\r\n\r\nignored\r\n--XyZ  \r\n\
                    content-disposition: form-data; name=\"q\\\"uote\"; x=y\r\n\r\n\
                    \r\n--XyZ\r\n\
                    Content-Disposition: form-data; name=tickets\r\n\r\n1\r\n--XyZ--\r\n";
        let fields = multipart_fields(body.as_bytes(), Some("XyZ")).unwrap();
        let expected = [
            ("body", "line one\r\nline two"),
            ("q\"uote", ""),
            ("tickets", "1"),
        ];
        assert_eq!(fields, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }

    #[test]
    fn a_malformed_multipart_body_is_refused_saying_why() {
        let refused = |body: &str, boundary: Option<&str>| {
            multipart_fields(body.as_bytes(), boundary)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused("", None),
            "Multipart form parse error - Invalid boundary in multipart: None"
        );
        assert!(refused("x", Some(&"b".repeat(71))).contains("Invalid boundary"));
        assert!(refused("no boundary here", Some("b")).contains("does not begin"));
        assert!(
            refused(
                "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nv",
                Some("b")
            )
            .contains("closing boundary is missing")
        );
        assert!(refused("--bX", Some("b")).contains("not followed by a line break"));
        assert!(refused("--b\r\nContent-Disposition: x", Some("b")).contains("headers do not end"));
        let not_utf8 = b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\xff\r\n--b--";
        assert_eq!(
            multipart_fields(not_utf8, Some("b")),
            Err(FormError::NotUtf8)
        );
    }
}
