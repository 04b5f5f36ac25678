//! The layer worker: runs one job of the protocol (`crate::protocol`) and ends. Its main
//! (`bin/worker.rs`) calls [`run`], which says `Ready`, takes the request, and hands it to
//! the job's function; only a streamed hash takes more messages, which go to the hash job.

use std::marker::PhantomData;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::protocol::{FromWorker, Hash, Job, OpenArchive, Request};

pub mod build;
pub mod error;
pub mod extract;
pub mod file_read;
pub mod hash;
pub mod list;
pub mod merge;
pub mod open_archive;
pub mod read_ahead;
pub mod remote_layer;

pub use error::Error;

/// The worker's main: waits for its request and runs it.
pub fn run() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    // What the running job does with later messages (a streamed hash's parts).
    let mut input: Option<Box<dyn FnMut(JsValue)>> = None;
    let s = scope.clone();
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let data = e.data();
        match input.as_mut() {
            Some(input) => input(data),
            None => input = dispatch(&s, data),
        }
    });
    scope.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    // The handler lives as long as the worker (one job, then the page terminates it).
    handler.forget();
    Reply::<Hash>::new(scope).post(&FromWorker::Ready);
}

/// Starts the job `data` asks for; returns what takes its later messages, if it takes any.
fn dispatch(scope: &DedicatedWorkerGlobalScope, data: JsValue) -> Option<Box<dyn FnMut(JsValue)>> {
    let request = match serde_wasm_bindgen::from_value::<Request>(data) {
        Ok(request) => request,
        Err(e) => {
            let message = format!("the worker cannot read its request: {e}");
            Reply::<Hash>::new(scope.clone()).post(&FromWorker::Failed { message });
            return None;
        }
    };
    match request {
        Request::Build(job) => {
            let reply = Reply::new(scope.clone());
            wasm_bindgen_futures::spawn_local(async move { reply.finish(build::build(&reply, job).await) });
        }
        Request::BuildShare(job) => {
            let reply = Reply::new(scope.clone());
            wasm_bindgen_futures::spawn_local(async move { reply.finish(build::build_share(&reply, job).await) });
        }
        Request::Hash(job) => return Some(hash::start(Reply::new(scope.clone()), job)),
        Request::OpenArchive(job) => {
            Reply::<OpenArchive>::new(scope.clone()).finish(open_archive::open(job));
        }
        Request::List(job) => {
            let reply = Reply::new(scope.clone());
            wasm_bindgen_futures::spawn_local(async move { reply.finish(list::list(&reply, &job.layer).await) });
        }
        Request::Merge(job) => {
            let reply = Reply::new(scope.clone());
            wasm_bindgen_futures::spawn_local(async move { reply.finish(merge::merge(&reply, &job.layers).await) });
        }
        Request::Extract(job) => {
            let reply = Reply::new(scope.clone());
            wasm_bindgen_futures::spawn_local(async move { reply.finish(extract::extract(&reply, job).await) });
        }
    }
    None
}

/// How a job of kind `J` talks to the page.
#[derive(Debug)]
pub struct Reply<J> {
    scope: DedicatedWorkerGlobalScope,
    job: PhantomData<J>,
}

impl<J: Job> Reply<J> {
    fn new(scope: DedicatedWorkerGlobalScope) -> Reply<J> {
        Reply { scope, job: PhantomData }
    }

    /// Says something before the end.
    pub fn update(&self, update: J::Update) {
        self.post(&FromWorker::Update(update));
    }

    /// Says something before the end, moving `buffer` (an `ArrayBuffer` the update holds) to
    /// the page rather than copying it.
    pub fn update_moving(&self, update: J::Update, buffer: &JsValue) {
        if let Ok(value) = serde_wasm_bindgen::to_value(&FromWorker::<J>::Update(update)) {
            if self.scope.post_message_with_transfer(&value, &js_sys::Array::of1(buffer)).is_ok() {
                return;
            }
        }
        self.post(&FromWorker::Failed { message: "the worker cannot send its answer".to_owned() });
    }

    /// The job's last word: its result, or why it failed.
    pub fn finish(&self, result: Result<J::Done, Error>) {
        self.post(&match result {
            Ok(done) => FromWorker::Done(done),
            Err(e) => FromWorker::Failed { message: e.to_string() },
        });
    }

    fn post(&self, msg: &FromWorker<J>) {
        // A message that cannot be serialised is a bug in the protocol's types: the page still
        // hears that the job ended. A worker whose page is gone has no one to tell.
        let value = serde_wasm_bindgen::to_value(msg).or_else(|e| {
            let message = format!("the worker cannot send its answer: {e}");
            serde_wasm_bindgen::to_value(&FromWorker::<J>::Failed { message })
        });
        if let Ok(value) = value {
            let _ = self.scope.post_message(&value);
        }
    }
}
