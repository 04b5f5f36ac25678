//! The page's handle on a job in its own worker ([`WorkerJob`]): spawns the worker, sends the
//! request once the worker is ready, hands the job's events to a callback as they come, and
//! terminates the worker after the job's last event or when the handle is dropped.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, Worker};

use super::Error;
use crate::protocol::{FromWorker, Job, Request};

/// What the page hears of a job of kind `J`: updates, then exactly one `Done` or `Failed`.
#[derive(Debug)]
pub enum Event<J: Job> {
    Update(J::Update),
    Done(J::Done),
    /// The job failed in the worker, or the worker could not be told or understood.
    Failed(Error),
}

/// A job in its own worker. Dropping the handle stops the job; [`WorkerJob::detach`] lets it
/// run to its end instead.
pub struct WorkerJob<J> {
    inner: Rc<JobInner>,
    keep: Rc<RefCell<Option<Rc<JobInner>>>>,
    job: PhantomData<J>,
}

impl<J> std::fmt::Debug for WorkerJob<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerJob").field("job", &std::any::type_name::<J>()).finish_non_exhaustive()
    }
}

/// A job's `onmessage` handler.
type Handler = Closure<dyn FnMut(MessageEvent)>;

struct JobInner {
    worker: Worker,
    handler: RefCell<Option<Handler>>,
}

impl Drop for JobInner {
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.terminate();
        // The job may be dropped by its own handler (a callback that stops it): free the
        // handler once it has returned.
        if let Some(handler) = self.handler.borrow_mut().take() {
            wasm_bindgen_futures::spawn_local(async move { drop(handler) });
        }
    }
}

impl<J: Job> WorkerJob<J> {
    /// Starts `job` in a fresh worker; `on_event` hears its events.
    pub fn start(job: J, mut on_event: impl FnMut(Event<J>) + 'static) -> Result<WorkerJob<J>, Error> {
        let worker =
            Worker::new("./worker_loader.js").map_err(|e| Error::browser("cannot start the layer worker", &e))?;
        let w = worker.clone();
        let keep: Rc<RefCell<Option<Rc<JobInner>>>> = Rc::default();
        let kept = Rc::clone(&keep);
        let mut request = Some(job);
        let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let msg = serde_wasm_bindgen::from_value::<FromWorker<J>>(e.data()).unwrap_or_else(|e| {
                FromWorker::Failed { message: format!("the page cannot read the worker's answer: {e}") }
            });
            let event = match msg {
                // The worker says Ready once its wasm is running: a message sent earlier is lost.
                FromWorker::Ready => {
                    if let Some(job) = request.take() {
                        let request: Request = job.into();
                        if let Err(e) = post(&w, &request, None) {
                            w.set_onmessage(None);
                            w.terminate();
                            on_event(Event::Failed(e));
                            drop(kept.borrow_mut().take());
                        }
                    }
                    return;
                }
                FromWorker::Update(update) => return on_event(Event::Update(update)),
                FromWorker::Done(done) => Event::Done(done),
                FromWorker::Failed { message } => Event::Failed(Error::Worker(message)),
            };
            // The job's last event: its worker has nothing more to say.
            w.set_onmessage(None);
            w.terminate();
            on_event(event);
            // A detached job ends here.
            drop(kept.borrow_mut().take());
        });
        worker.set_onmessage(Some(handler.as_ref().unchecked_ref()));
        let inner = Rc::new(JobInner { worker, handler: RefCell::new(Some(handler)) });
        Ok(WorkerJob { inner, keep, job: PhantomData })
    }

    /// Sends the running job more input (the parts of a streamed hash).
    pub fn send(&self, input: &J::Input) -> Result<(), Error> {
        post(&self.inner.worker, input, None)
    }

    /// Sends `input`, moving `buffer` (an `ArrayBuffer` it holds) to the worker rather than
    /// copying it: the page cannot use it afterwards.
    pub fn send_moving(&self, input: &J::Input, buffer: &JsValue) -> Result<(), Error> {
        post(&self.inner.worker, input, Some(buffer))
    }

    /// Lets the job run to its last event without a handle (it is dropped then).
    pub fn detach(self) {
        *self.keep.borrow_mut() = Some(Rc::clone(&self.inner));
    }
}

fn post(worker: &Worker, msg: &impl serde::Serialize, moving: Option<&JsValue>) -> Result<(), Error> {
    let value = serde_wasm_bindgen::to_value(msg)
        .map_err(|e| Error::Browser { doing: "cannot send the worker its job".to_owned(), reason: e.to_string() })?;
    match moving {
        None => worker.post_message(&value),
        Some(buffer) => worker.post_message_with_transfer(&value, &js_sys::Array::of1(buffer)),
    }
    .map_err(|e| Error::browser("cannot send the worker its job", &e))
}
