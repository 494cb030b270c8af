//! Email: where a request's outcome email stands, and where one outbox message stands.

crate::text_enum! {
    /// A request's outcome email.
    pub enum NotificationStatus as "notification status" {
        /// Nothing to send yet.
        None = "none",
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
    }
}

crate::text_enum! {
    /// One message in the outbox, and the outcome of one attempt to send it.
    pub enum MailStatus as "mail status" {
        Pending = "pending",
        Sent = "sent",
        /// Out of attempts.
        Failed = "failed",
    }
}
