//! User names: `<name>@<app>.<account>`, case-insensitive, also with `.voximplant.com`.

/// Maximum short name length.
pub const MAX_NAME_CHARS: usize = 50;

/// Whether `name` is a valid short name: 1-50 of `[a-z0-9._-]`, starting with a letter or digit.
pub fn valid_short_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// The short name of a full user name of this domain, if it is one.
///
/// ```
/// use chatwire_server::names::short_name;
/// assert_eq!(short_name("Alice@Chat.Example", "chat.example").as_deref(), Some("alice"));
/// assert_eq!(short_name("alice@chat.example.voximplant.com", "chat.example").as_deref(), Some("alice"));
/// assert_eq!(short_name("alice", "chat.example"), None);
/// assert_eq!(short_name("alice@other.example", "chat.example"), None);
/// ```
pub fn short_name(full: &str, domain: &str) -> Option<String> {
    let lower = full.trim().to_lowercase();
    let lower = lower.strip_suffix(".voximplant.com").unwrap_or(&lower);
    let (name, dom) = lower.split_once('@')?;
    (dom == domain && valid_short_name(name)).then(|| name.to_string())
}

/// The short name given to `AddUser` (short, or full with this domain).
pub fn admin_short_name(input: &str, domain: &str) -> Option<String> {
    if input.contains('@') {
        short_name(input, domain)
    } else {
        let lower = input.trim().to_lowercase();
        valid_short_name(&lower).then_some(lower)
    }
}

/// The canonical full name.
pub fn full_name(short: &str, domain: &str) -> String {
    format!("{short}@{domain}")
}
