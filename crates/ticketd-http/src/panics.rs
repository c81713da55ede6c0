//! The last line of defence: a request whose handler panics is answered in its dialect's format.
//!
//! Without it a panic unwound the connection's task, and the client saw the connection close
//! with no answer at all (a DataArts list whose end was the last instant chrono can hold did
//! so until its overflow was fixed). A panic is a defect all the same, to be fixed where it is
//! found; this layer only makes sure the client gets an answer and the log gets the cause.

use axum::extract::Request;
use axum::response::Response;
use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A layer that answers `render(cause)` to a request whose handler panicked, `cause` being the
/// panic's message. Each dialect passes its own renderer of an internal error, so the answer is
/// in its error format and the cause reaches the log as any internal error's does.
pub fn panic_layer(render: fn(String) -> Response) -> PanicLayer {
    PanicLayer { render }
}

/// See [`panic_layer`].
#[derive(Clone, Copy, Debug)]
pub struct PanicLayer {
    render: fn(String) -> Response,
}

impl<S> tower::Layer<S> for PanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic {
            inner,
            render: self.render,
        }
    }
}

/// The service of [`PanicLayer`].
#[derive(Clone, Debug)]
pub struct CatchPanic<S> {
    inner: S,
    render: fn(String) -> Response,
}

impl<S> tower::Service<Request> for CatchPanic<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answered<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let state = match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => State::Running(Box::pin(future)),
            Err(payload) => State::Panicked(Some(cause(payload.as_ref()))),
        };
        Answered {
            state,
            render: self.render,
        }
    }
}

/// The future of [`CatchPanic`]: the handler's answer, or the rendered internal error.
pub struct Answered<F> {
    state: State<F>,
    render: fn(String) -> Response,
}

enum State<F> {
    Running(Pin<Box<F>>),
    /// The handler panicked before it returned its future; the cause until it is rendered.
    Panicked(Option<String>),
}

impl<F> Future for Answered<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let render = this.render;
        match &mut this.state {
            State::Running(future) => {
                match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                    Ok(poll) => poll,
                    Err(payload) => Poll::Ready(Ok(render(cause(payload.as_ref())))),
                }
            }
            State::Panicked(text) => Poll::Ready(Ok(render(text.take().unwrap_or_default()))),
        }
    }
}

fn cause(payload: &(dyn Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    format!("the handler panicked: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::response::IntoResponse;
    use tower::{Layer, ServiceExt};

    fn internal(cause: String) -> Response {
        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, cause).into_response()
    }

    async fn answer_of(
        service: impl tower::Service<Request, Response = Response, Error = Infallible>,
    ) -> (u16, String) {
        let response = panic_layer(internal)
            .layer(service)
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_panic_in_a_handler_is_answered_with_its_cause_and_an_answer_passes() {
        let panics_while_answering = tower::service_fn(|_request: Request| async move {
            if true {
                panic!("overflowed");
            }
            Ok::<_, Infallible>(Response::new(Body::empty()))
        });
        assert_eq!(
            answer_of(panics_while_answering).await,
            (500, "the handler panicked: overflowed".to_owned())
        );

        let panics_when_called = tower::service_fn(
            |_request: Request| -> std::future::Ready<Result<Response, Infallible>> {
                panic!("{} apples", 3)
            },
        );
        assert_eq!(
            answer_of(panics_when_called).await,
            (500, "the handler panicked: 3 apples".to_owned())
        );

        let answers = tower::service_fn(|_request: Request| async move {
            Ok::<_, Infallible>("fine".into_response())
        });
        assert_eq!(answer_of(answers).await, (200, "fine".to_owned()));
    }
}
