//! Local, offline analysis of incoming customer messages: which language a message is in
//! (whatlang) and how it feels (VADER's compound score). Behind [`TextAnalyzer`] so the
//! agents domain can swap in another implementation.

use std::collections::HashMap;
use std::sync::LazyLock;

use unicase::UniCase;
use vader_sentiment::SentimentIntensityAnalyzer;
use whatlang::{Detector, Lang};

/// Below this whatlang confidence a detection is reported as unknown. whatlang's own
/// "reliable" mark (0.9) drops most short messages, "Hola, ¿cómo estás?" among them; wrong
/// guesses on short Latin and Cyrillic text stay well under 0.5.
const MIN_CONFIDENCE: f64 = 0.5;

/// A detected language: its ISO 639-1 code and whatlang's confidence (0..1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Language {
    pub code: &'static str,
    pub confidence: f64,
}

/// What the agents domain asks of a message.
pub trait TextAnalyzer: Send + Sync {
    /// The message's language, or `None` when it is too short or too mixed to tell.
    fn detect_language(&self, text: &str) -> Option<Language>;
    /// From −1 (most negative) to 1 (most positive); 0 for neutral or empty text.
    fn sentiment(&self, text: &str) -> f64;
}

/// whatlang and VADER, in process.
#[derive(Debug, Clone, Default)]
pub struct LocalAnalyzer {
    detector: Detector,
}

impl LocalAnalyzer {
    /// Detects among every language whatlang knows (about 70).
    pub fn new() -> Self {
        Self::default()
    }

    /// Detects only among `codes` (ISO 639-1), which makes short messages far more often
    /// detectable when an agent's customers are known to write in a few languages. Codes
    /// whatlang cannot detect are ignored; when none is left, every language is allowed.
    pub fn with_languages<'a>(codes: impl IntoIterator<Item = &'a str>) -> Self {
        let allowed: Vec<Lang> = codes
            .into_iter()
            .filter_map(|code| {
                let code = language_code(code)?;
                Lang::all()
                    .iter()
                    .copied()
                    .find(|&lang| iso639_1(lang) == code)
            })
            .collect();
        if allowed.is_empty() {
            return Self::new();
        }
        Self {
            detector: Detector::with_allowlist(allowed),
        }
    }
}

impl TextAnalyzer for LocalAnalyzer {
    fn detect_language(&self, text: &str) -> Option<Language> {
        let info = self.detector.detect(text)?;
        (info.confidence() >= MIN_CONFIDENCE).then(|| Language {
            code: iso639_1(info.lang()),
            confidence: info.confidence(),
        })
    }

    fn sentiment(&self, text: &str) -> f64 {
        sentiment(text)
    }
}

/// [`LocalAnalyzer::detect_language`] among every language.
pub fn detect_language(text: &str) -> Option<Language> {
    LocalAnalyzer::new().detect_language(text)
}

/// VADER's lexicon with the words of customer support it underrates: asking for one's money
/// back is a complaint, and "worst" is the superlative of "bad" (−2.5), not merely below it.
static SUPPORT_LEXICON: LazyLock<HashMap<UniCase<&'static str>, f64>> = LazyLock::new(|| {
    let mut lexicon = vader_sentiment::LEXICON.clone();
    for (word, valence) in [("refund", -1.8), ("worst", -3.4)] {
        lexicon.insert(UniCase::new(word), valence);
    }
    lexicon
});

/// VADER's compound score of `text`, in −1..1, over [`SUPPORT_LEXICON`]. VADER's lexicon is
/// English (plus emoji and emoticons): text in another language mostly scores 0.
pub fn sentiment(text: &str) -> f64 {
    let analyzer = SentimentIntensityAnalyzer::from_lexicon(&SUPPORT_LEXICON);
    let scores = analyzer.polarity_scores(text);
    let score = |name: &str| scores.get(name).copied().unwrap_or(0.0);
    // The Rust port subtracts the `!`/`?` emphasis even when no word carries sentiment (the
    // Python original adds it only to a non-zero sum), so "Hello, how are you?" would score
    // below 0. No sentiment-bearing word means no positive and no negative share.
    if score("pos") == 0.0 && score("neg") == 0.0 {
        return 0.0;
    }
    let compound = score("compound");
    if compound.is_finite() {
        compound.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Whether `code` is an ISO 639-1 language code (two letters, any case), for validating
/// settings.
pub fn is_known_language_code(code: &str) -> bool {
    language_code(code).is_some()
}

/// `code` as the canonical (lower-case) ISO 639-1 code, or `None` when it is not one.
pub fn language_code(code: &str) -> Option<&'static str> {
    let code = code.trim().to_ascii_lowercase();
    ISO_639_1
        .binary_search(&code.as_str())
        .ok()
        .map(|index| ISO_639_1[index])
}

/// whatlang names languages by ISO 639-3; every one it detects has a 639-1 code.
fn iso639_1(lang: Lang) -> &'static str {
    match lang {
        Lang::Afr => "af",
        Lang::Aka => "ak",
        Lang::Amh => "am",
        Lang::Ara => "ar",
        Lang::Aze => "az",
        Lang::Bel => "be",
        Lang::Ben => "bn",
        Lang::Bul => "bg",
        Lang::Cat => "ca",
        Lang::Ces => "cs",
        Lang::Cmn => "zh",
        Lang::Cym => "cy",
        Lang::Dan => "da",
        Lang::Deu => "de",
        Lang::Ell => "el",
        Lang::Eng => "en",
        Lang::Epo => "eo",
        Lang::Est => "et",
        Lang::Fin => "fi",
        Lang::Fra => "fr",
        Lang::Guj => "gu",
        Lang::Heb => "he",
        Lang::Hin => "hi",
        Lang::Hrv => "hr",
        Lang::Hun => "hu",
        Lang::Hye => "hy",
        Lang::Ind => "id",
        Lang::Ita => "it",
        Lang::Jav => "jv",
        Lang::Jpn => "ja",
        Lang::Kan => "kn",
        Lang::Kat => "ka",
        Lang::Khm => "km",
        Lang::Kor => "ko",
        Lang::Lat => "la",
        Lang::Lav => "lv",
        Lang::Lit => "lt",
        Lang::Mal => "ml",
        Lang::Mar => "mr",
        Lang::Mkd => "mk",
        Lang::Mya => "my",
        Lang::Nep => "ne",
        Lang::Nld => "nl",
        Lang::Nob => "nb",
        Lang::Ori => "or",
        Lang::Pan => "pa",
        Lang::Pes => "fa",
        Lang::Pol => "pl",
        Lang::Por => "pt",
        Lang::Ron => "ro",
        Lang::Rus => "ru",
        Lang::Sin => "si",
        Lang::Slk => "sk",
        Lang::Slv => "sl",
        Lang::Sna => "sn",
        Lang::Spa => "es",
        Lang::Srp => "sr",
        Lang::Swe => "sv",
        Lang::Tam => "ta",
        Lang::Tel => "te",
        Lang::Tgl => "tl",
        Lang::Tha => "th",
        Lang::Tuk => "tk",
        Lang::Tur => "tr",
        Lang::Ukr => "uk",
        Lang::Urd => "ur",
        Lang::Uzb => "uz",
        Lang::Vie => "vi",
        Lang::Yid => "yi",
        Lang::Zul => "zu",
    }
}

/// Every ISO 639-1 code, sorted.
const ISO_639_1: [&str; 184] = [
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bh",
    "bi", "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da",
    "de", "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr",
    "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz",
    "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj",
    "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln",
    "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb",
    "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi",
    "pl", "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk",
    "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th", "ti",
    "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi", "vo",
    "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> Option<&'static str> {
        detect_language(text).map(|language| language.code)
    }

    #[test]
    fn the_seeds_spanish_greeting_is_spanish() {
        let language = detect_language("Hola, ¿cómo estás?").unwrap();
        assert_eq!(language.code, "es");
        assert!(language.confidence >= MIN_CONFIDENCE);
    }

    #[test]
    fn russian_and_other_common_languages_are_detected() {
        assert_eq!(code("Спасибо большое, всё работает отлично!"), Some("ru"));
        assert_eq!(
            code("This is the worst experience ever! I want a refund immediately!"),
            Some("en")
        );
        assert_eq!(code("¿Cuánto cuesta el envío a Madrid?"), Some("es"));
        assert_eq!(code("Danke schön für die Hilfe"), Some("de"));
        assert_eq!(code("Привіт, як справи?"), Some("uk"));
        assert_eq!(
            code("Dzień dobry, chciałbym anulować zamówienie"),
            Some("pl")
        );
        assert_eq!(code("こんにちは、元気ですか"), Some("ja"));
        assert_eq!(code("你好，我想退款"), Some("zh"));
        assert_eq!(code("안녕하세요, 도와주세요"), Some("ko"));
    }

    #[test]
    fn short_or_letterless_text_has_no_language() {
        for text in ["", "   ", "👍", "😀😀", "!!!", "12345", "ok", "Hello"] {
            assert_eq!(detect_language(text), None, "{text:?}");
        }
        // whatlang's best guess here is Czech, with little confidence.
        assert_eq!(code("Thank you so much! Great service!"), None);
    }

    #[test]
    fn an_allowlist_makes_short_messages_detectable() {
        let text = "Добрый день! Подскажите, когда будет доставка моего заказа?";
        assert_eq!(code(text), None);
        let analyzer = LocalAnalyzer::with_languages(["en", "RU", "uk", "xx", "ga"]);
        assert_eq!(analyzer.detect_language(text).unwrap().code, "ru");
        // Nothing detectable left: every language.
        let analyzer = LocalAnalyzer::with_languages(["ga", "nonsense"]);
        assert_eq!(
            analyzer.detect_language("Hola, ¿cómo estás?").unwrap().code,
            "es"
        );
    }

    #[test]
    fn the_seeds_positive_and_negative_messages_score_as_expected() {
        let positive = sentiment("Thank you so much! Great service!");
        assert!(positive > 0.5, "{positive}");
        let negative = sentiment("This is terrible! I'm very disappointed!");
        assert!((negative + 0.7951).abs() < 1e-3, "{negative}");
    }

    /// The seed calls this "very negative" (≤ −0.75); plain VADER, the Python original
    /// included, scores it −0.658, with "refund" neutral and "worst" barely past "bad".
    #[test]
    fn the_seeds_very_negative_message_is_very_negative() {
        let score = sentiment("This is the worst experience ever! I want a refund immediately!");
        assert!(score <= -0.75, "{score}");
        let question = sentiment("Can I get a refund for order 42?");
        assert!(question > -0.5, "a refund question is no alert: {question}");
    }

    #[test]
    fn neutral_empty_and_foreign_text_scores_zero() {
        for text in [
            "",
            "   ",
            "!!!",
            "Hello, how are you?",
            "Hola, ¿cómo estás?",
            "👍",
        ] {
            assert_eq!(sentiment(text), 0.0, "{text:?}");
        }
        // VADER reads emoji by their names, as the Python original does.
        assert!((sentiment("😀😀") - 0.6124).abs() < 1e-3);
    }

    #[test]
    fn odd_input_neither_panics_nor_leaves_the_range() {
        let long = "terrible but great, never so good ".repeat(2_000);
        let inputs = [
            "a",
            "but",
            "kind of",
            "at least very good",
            "never so this bad",
            "without doubt great",
            "\u{0}\u{7}\u{feff}\u{202e}",
            "e\u{301}\u{301}\u{301}",
            ":) :( <3 :D",
            "GREAT service but AWFUL delivery!!!???",
            long.as_str(),
        ];
        for text in inputs {
            let score = sentiment(text);
            assert!((-1.0..=1.0).contains(&score), "{text:?}: {score}");
            if let Some(language) = detect_language(text) {
                assert!(is_known_language_code(language.code));
            }
        }
    }

    #[test]
    fn every_detectable_language_has_its_own_639_1_code() {
        let mut codes: Vec<&str> = Lang::all().iter().map(|&lang| iso639_1(lang)).collect();
        assert!(codes.iter().all(|code| is_known_language_code(code)));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Lang::all().len());
    }

    #[test]
    fn language_codes_are_iso_639_1() {
        assert!(ISO_639_1.windows(2).all(|pair| pair[0] < pair[1]));
        for code in [
            "en", "es", "ru", "de", "fr", "pt", "it", "uk", "tr", "ar", "zh", "ja",
        ] {
            assert!(is_known_language_code(code), "{code}");
        }
        assert_eq!(language_code(" ES "), Some("es"));
        for code in ["", "e", "eng", "xx", "zz", "en-US", "😀"] {
            assert!(!is_known_language_code(code), "{code:?}");
        }
    }
}
