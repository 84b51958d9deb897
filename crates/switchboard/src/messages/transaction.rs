//! The `Transaction` message: a closure between BEGIN and COMMIT.

use super::*;

/// A closure run inside a transaction on one connection: committed when
/// it returns `Ok`, rolled back when it returns `Err` (a statement a guard
/// denied included, once the closure `?`s it). Emits `TxBegin` and
/// `TxCommit`/`TxRollback`; every statement the closure sends is guarded
/// and reported like an `Execute` (origin `closure`).
///
/// How it begins is configurable: [`isolation`](Self::isolation),
/// [`read_only`](Self::read_only), [`deferrable`](Self::deferrable) (see
/// [`TxOptions`]); inside it, [`DbConnection::savepoint`] nests.
///
/// ```ignore
/// let n = manager.send(Transaction::new(async |conn: &mut DbConnection| {
///     conn.execute(Execute::sql("INSERT INTO t VALUES (1)")).await
/// }).isolation(Isolation::Serializable)).await??;
/// ```
#[must_use]
pub struct Transaction<F, T> {
    f: F,
    options: TxOptions,
    opts: Opts,
    _out: PhantomData<fn() -> T>,
}

impl<F, T> Transaction<F, T>
where
    F: AsyncFnOnce(&mut DbConnection) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    /// A message running `f` inside a transaction.
    pub fn new(f: F) -> Self {
        Transaction {
            f,
            options: TxOptions::default(),
            opts: Opts::default(),
            _out: PhantomData,
        }
    }

    /// Begins the transaction at this isolation level.
    pub fn isolation(mut self, level: Isolation) -> Self {
        self.options.isolation = Some(level);
        self
    }

    /// Begins a read-only transaction: the database refuses its writes.
    pub fn read_only(mut self) -> Self {
        self.options.read_only = true;
        self
    }

    /// Begins a deferrable transaction (PostgreSQL; with serializable and
    /// read only it never fails with a serialization error). Refused with
    /// `Error::Config` on other backends.
    pub fn deferrable(mut self) -> Self {
        self.options.deferrable = true;
        self
    }

    /// Replaces all the options of how the transaction begins.
    pub fn options(mut self, options: TxOptions) -> Self {
        self.options = options;
        self
    }

    opts_methods!();
}

impl<F, T> std::fmt::Debug for Transaction<F, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("options", &self.options)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl<F, T> Placement for Transaction<F, T> {
    fn shareable(&mut self, _: &Shared) -> bool {
        false
    }
}

impl<F, T: 'static> actix::Message for Transaction<F, T> {
    type Result = Result<T>;
}

impl<F, T> Request for Transaction<F, T>
where
    F: AsyncFnOnce(&mut DbConnection) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    type Output = T;
    fn into_work(self) -> (Work<T>, Opts) {
        let (f, options) = (self.f, self.options);
        let job: Job<T> = Box::new(move |s: &mut Session| Box::pin(s.transaction(options, f)));
        (Work(job), self.opts)
    }
}
