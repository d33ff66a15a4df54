//! The dashboard in German and English: by `Accept-Language`, switched
//! with `?lang=de|en` (kept in a cookie). FRITZ!Box households are mostly
//! German. The words come from the one catalogue (`call::words`); the
//! config, the call log and the API keep their English words, shown to
//! people in their language.

use axum::http::{HeaderMap, header};

use crate::call::words;

pub use crate::call::show::Lang;

/// The cookie that keeps a switched language (not a secret).
pub const COOKIE: &str = "minisip4fb_lang";

/// The dashboard's side of [`Lang`]: which one a request asks for, and
/// the page's words.
impl Lang {
    /// `?lang=` first, then the cookie, then the browser's
    /// `Accept-Language` (the best-rated of German and English, RFC 9110
    /// §12.5.4), else English.
    pub fn of(headers: &HeaderMap, asked: Option<&str>) -> Lang {
        if let Some(l) = asked.and_then(Lang::parse) {
            return l;
        }
        if let Some(l) = super::auth::cookie(headers, COOKIE).and_then(Lang::parse) {
            return l;
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        accept
            .split(',')
            .take(32)
            .enumerate()
            .filter_map(|(i, part)| {
                let mut it = part.split(';');
                let lang = Lang::parse(it.next()?)?;
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                // Equal weights: the one named first.
                (q > 0.0).then_some((q, usize::MAX - i, lang))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map_or(Lang::En, |(_, _, l)| l)
    }

    /// Every text as a JSON object, for the page's script.
    pub fn json(self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = words::all(self)
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
        serde_json::Value::Object(map).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(accept: &str, cookie: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(accept).unwrap(),
        );
        if let Some(c) = cookie {
            h.insert(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn the_language_is_asked_then_kept_then_the_browsers() {
        assert_eq!(
            Lang::of(&with("de-DE,de;q=0.9,en;q=0.8", None), None),
            Lang::De
        );
        assert_eq!(
            Lang::of(&with("en-US,en;q=0.9,de;q=0.8", None), None),
            Lang::En
        );
        assert_eq!(
            Lang::of(&with("fr-FR,de;q=0.5,en;q=0.4", None), None),
            Lang::De
        );
        assert_eq!(Lang::of(&with("de;q=0,en;q=0.1", None), None), Lang::En);
        assert_eq!(Lang::of(&with("fr", None), None), Lang::En);
        assert_eq!(Lang::of(&with("", None), None), Lang::En);
        let kept = with("en", Some("a=b; minisip4fb_lang=de"));
        assert_eq!(Lang::of(&kept, None), Lang::De);
        assert_eq!(Lang::of(&kept, Some("en")), Lang::En);
        assert_eq!(Lang::of(&kept, Some("xx")), Lang::De);
    }

    /// Every key the pages and the script name has its texts (the
    /// catalogue's own test sees that each has both).
    #[test]
    fn every_text_used_is_there() {
        let mut keys: Vec<&str> = words::keys().collect();
        keys.sort_unstable();
        let js = include_str!("assets/app.js");
        let rs = [
            include_str!("pages.rs"),
            include_str!("mod.rs"),
            include_str!("auth.rs"),
        ]
        .concat();
        let said = [
            include_str!("pages.rs"),
            include_str!("auth.rs"),
            include_str!("../screen/rules/why.rs"),
            include_str!("../screen/rules/view.rs"),
        ]
        .concat();
        // `t("key")` not part of a longer name (`set("…")`).
        let used = |text: &str, open: &str| -> Vec<String> {
            text.match_indices(open)
                .filter(|(i, _)| {
                    let before = text[..*i].chars().next_back().unwrap_or(' ');
                    !(before.is_alphanumeric() || before == '_')
                })
                .filter_map(|(i, _)| text[i + open.len()..].split('"').next().map(str::to_owned))
                .collect()
        };
        let mut all = used(js, "t(\"");
        all.extend(used(&rs, "lang.t(\""));
        all.extend(used(&said, "Said::new(\""));
        all.extend(used(&said, "it(\""));
        assert!(all.len() > 40, "{all:?}");
        for k in all {
            // `t("rating." + …)`: the words of that kind are checked with
            // the catalogue.
            let known = match k.strip_suffix('.') {
                Some(_) => keys.iter().any(|key| key.starts_with(&k)),
                None => keys.binary_search(&k.as_str()).is_ok(),
            };
            assert!(known, "no text for {k:?}");
        }
    }
}
