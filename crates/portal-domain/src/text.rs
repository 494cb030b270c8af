//! Enums that are kept and sent as text: each one's names, parsing and printing in one place.

/// Text that names no value of the enum it was read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a known {what}")]
pub struct UnknownName {
    /// The enum's name, as people say it (`request status`).
    pub what: &'static str,
    pub text: String,
}

/// Declares a fieldless enum with the text of each variant: `ALL`, `as_str`, `Display`,
/// `FromStr` and `TryFrom<String>` (so a row decodes it once and a bad value is an error).
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $what:literal {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value's text, as stored and as the API says it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::text::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::text::UnknownName { what: $what, text: s.to_owned() }),
                }
            }
        }

        impl ::std::convert::TryFrom<String> for $name {
            type Error = $crate::text::UnknownName;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}

/// The values as a list of SQL string literals, `'a', 'b'`, for an `IN (…)` that the domain
/// decides. The texts are the enum's own constants, never input.
pub fn sql_list<T: Copy>(values: &[T], text: impl Fn(T) -> &'static str) -> String {
    values
        .iter()
        .map(|v| format!("'{}'", text(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        enum Colour as "colour" {
            Red = "red",
            DarkBlue = "dark_blue",
        }
    }

    #[test]
    fn every_value_reads_back_from_its_text_and_others_are_named_errors() {
        for colour in Colour::ALL {
            assert_eq!(colour.as_str().parse::<Colour>(), Ok(*colour));
            assert_eq!(Colour::try_from(colour.to_string()), Ok(*colour));
        }
        let err = "green".parse::<Colour>().unwrap_err();
        assert_eq!(err.to_string(), "\"green\" is not a known colour");
    }

    #[test]
    fn a_sql_list_quotes_each_text() {
        assert_eq!(
            super::sql_list(Colour::ALL, Colour::as_str),
            "'red', 'dark_blue'"
        );
    }
}
