//! Each provider against its stand-in (`testkit::push`): what arrives, what the provider's
//! answers become, how credentials are kept.

mod apns;
mod fcm;
mod webpush;
