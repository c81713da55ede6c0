//! HTTP Signatures (draft-cavage) as python's `httpsig` package signs them, HMAC-SHA256 only.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ticketd_core::credentials::{HmacHash, constant_time_eq};

/// The parameters of an `Authorization: Signature …` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureParams {
    /// `keyId`.
    pub key_id: String,
    /// `algorithm`.
    pub algorithm: String,
    /// `headers`, lower-cased, in order (default `["date"]`).
    pub headers: Vec<String>,
    /// `signature`, still base64.
    pub signature: String,
}

/// Why a signature is refused; every case answers 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// Missing parameters or bad syntax.
    Malformed,
    /// An algorithm other than hmac-sha1, hmac-sha256 and hmac-sha512.
    UnsupportedAlgorithm,
    /// `(request-target)` or `date` is not signed.
    RequiredHeaderNotSigned,
    /// A signed header is absent from the request.
    MissingHeader,
    /// The `Date` header is unparseable or too far from the server clock.
    StaleDate,
    /// The HMAC does not match.
    Mismatch,
}

/// Parses the part after `Signature ` (RFC 2068 list of `key="value"`; keys case-insensitive).
pub fn parse_params(text: &str) -> Result<SignatureParams, SignatureError> {
    let mut key_id = None;
    let mut algorithm = None;
    let mut headers = None;
    let mut signature = None;
    let mut rest = text.trim();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or(SignatureError::Malformed)?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').ok_or(SignatureError::Malformed)?;
            value = quoted[..end].to_owned();
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        match key.as_str() {
            "keyid" => key_id = Some(value),
            "algorithm" => algorithm = Some(value),
            "headers" => headers = Some(value),
            "signature" => signature = Some(value),
            _ => {}
        }
    }
    Ok(SignatureParams {
        key_id: key_id.ok_or(SignatureError::Malformed)?,
        algorithm: algorithm.ok_or(SignatureError::Malformed)?,
        headers: headers
            .unwrap_or_else(|| "date".into())
            .split(' ')
            .filter(|h| !h.is_empty())
            .map(str::to_ascii_lowercase)
            .collect(),
        signature: signature.ok_or(SignatureError::Malformed)?,
    })
}

/// The string that was signed: one `name: value` line per signed header, joined by `\n`.
pub fn signing_string(
    params: &SignatureParams,
    method: &str,
    path_and_query: &str,
    header: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SignatureError> {
    let mut lines = Vec::with_capacity(params.headers.len());
    for name in &params.headers {
        if name == "(request-target)" {
            lines.push(format!(
                "(request-target): {} {}",
                method.to_ascii_lowercase(),
                path_and_query
            ));
        } else {
            let value = header(name).ok_or(SignatureError::MissingHeader)?;
            lines.push(format!("{name}: {value}"));
        }
    }
    Ok(lines.join("\n"))
}

/// Verifies a signed request against `secret`: required headers, date skew, then the HMAC in
/// constant time.
pub fn verify(
    params: &SignatureParams,
    secret: &str,
    method: &str,
    path_and_query: &str,
    header: &dyn Fn(&str) -> Option<String>,
    now: DateTime<Utc>,
    max_skew: chrono::Duration,
) -> Result<(), SignatureError> {
    let hash =
        HmacHash::of_algorithm(&params.algorithm).ok_or(SignatureError::UnsupportedAlgorithm)?;
    if !params.headers.iter().any(|h| h == "(request-target)")
        || !params.headers.iter().any(|h| h == "date")
    {
        return Err(SignatureError::RequiredHeaderNotSigned);
    }
    let date = header("date").ok_or(SignatureError::MissingHeader)?;
    let sent = http_date(&date).ok_or(SignatureError::StaleDate)?;
    let skew = now.signed_duration_since(sent).abs();
    if skew > max_skew {
        return Err(SignatureError::StaleDate);
    }
    let message = signing_string(params, method, path_and_query, header)?;
    let presented = base64::engine::general_purpose::STANDARD
        .decode(params.signature.trim())
        .map_err(|_bad_base64| SignatureError::Mismatch)?;
    let expected = hash.mac(secret.as_bytes(), message.as_bytes());
    // A MAC is never empty; an empty one (a failure) must not match an empty signature.
    if !expected.is_empty() && constant_time_eq(&presented, &expected) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// An HTTP date in any of the three forms RFC 9110 (§5.6.7) has recipients accept: IMF-fixdate
/// (and RFC 2822 generally), RFC 850's (`Sunday, 06-Nov-94 08:49:37 GMT`) and C's `asctime`
/// (`Sun Nov  6 08:49:37 1994`); the last two were refused as stale, however current.
fn http_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(date) = DateTime::parse_from_rfc2822(text) {
        return Some(date.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ticketd_core::credentials::hmac_sha256;

    fn sign(secret: &str, message: &str) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(hmac_sha256(secret.as_bytes(), message.as_bytes()))
    }

    #[test]
    fn httpsig_style_header_parses_and_verifies() {
        let now = Utc.with_ymd_and_hms(2026, 8, 21, 10, 22, 42).unwrap();
        let date = "Fri, 21 Aug 2026 10:22:42 GMT".to_owned();
        let message =
            format!("(request-target): get /api/v1/users/profile/?a=1\naccept: */*\ndate: {date}");
        let header_text = format!(
            r#"keyId="k1",algorithm="hmac-sha256",headers="(request-target) accept date",signature="{}""#,
            sign("s3cret", &message)
        );
        let params = parse_params(&header_text).unwrap();
        assert_eq!(params.headers, vec!["(request-target)", "accept", "date"]);
        let headers = |name: &str| match name {
            "accept" => Some("*/*".to_owned()),
            "date" => Some(date.clone()),
            _ => None,
        };
        let skew = chrono::Duration::minutes(15);
        assert_eq!(
            verify(
                &params,
                "s3cret",
                "GET",
                "/api/v1/users/profile/?a=1",
                &headers,
                now,
                skew
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                &params,
                "s3cret",
                "POST",
                "/api/v1/users/profile/?a=1",
                &headers,
                now,
                skew
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &params,
                "other",
                "GET",
                "/api/v1/users/profile/?a=1",
                &headers,
                now,
                skew
            ),
            Err(SignatureError::Mismatch)
        );
        let later = now + chrono::Duration::minutes(16);
        assert_eq!(
            verify(
                &params,
                "s3cret",
                "GET",
                "/api/v1/users/profile/?a=1",
                &headers,
                later,
                skew
            ),
            Err(SignatureError::StaleDate)
        );
        let unsigned_date = SignatureParams {
            headers: vec!["(request-target)".into()],
            ..params.clone()
        };
        assert_eq!(
            verify(&unsigned_date, "s3cret", "GET", "/", &headers, now, skew),
            Err(SignatureError::RequiredHeaderNotSigned)
        );
        assert_eq!(
            parse_params(r#"keyId="k1""#),
            Err(SignatureError::Malformed)
        );
        // JumpServer's other HMAC algorithms (§7.2) verify with their own hash; RSA ones are
        // not supported (access keys are shared secrets).
        for (algorithm, hash) in [
            ("hmac-sha1", HmacHash::Sha1),
            ("HMAC-SHA512", HmacHash::Sha512),
        ] {
            let signature = base64::engine::general_purpose::STANDARD
                .encode(hash.mac(b"s3cret", message.as_bytes()));
            let other = SignatureParams {
                algorithm: algorithm.into(),
                signature,
                ..params.clone()
            };
            let path = "/api/v1/users/profile/?a=1";
            assert_eq!(
                verify(&other, "s3cret", "GET", path, &headers, now, skew),
                Ok(())
            );
            let sha256_signature = SignatureParams {
                algorithm: algorithm.into(),
                ..params.clone()
            };
            assert_eq!(
                verify(
                    &sha256_signature,
                    "s3cret",
                    "GET",
                    path,
                    &headers,
                    now,
                    skew
                ),
                Err(SignatureError::Mismatch),
                "{algorithm} checks with its own hash"
            );
        }
        // The two obsolete HTTP date forms name the same instant.
        for obsolete in ["Monday, 07-Dec-26 20:12:32 GMT", "Mon Dec  7 20:12:32 2026"] {
            assert_eq!(
                http_date(obsolete),
                http_date("Mon, 07 Dec 2026 20:12:32 GMT"),
                "{obsolete}"
            );
        }
        assert!(http_date("Mon, 07 Dec 2026 20:12:32 GMT").is_some());
        assert_eq!(http_date("yesterday"), None);
        let rsa = SignatureParams {
            algorithm: "rsa-sha256".into(),
            ..params.clone()
        };
        assert_eq!(
            verify(&rsa, "s3cret", "GET", "/", &headers, now, skew),
            Err(SignatureError::UnsupportedAlgorithm)
        );
    }
}
