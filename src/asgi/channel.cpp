#include "asgi/channel.h"

#include <new>

namespace narwhal::asgi {
namespace {

struct ChannelObject {
  PyObject_HEAD
  Endpoint* endpoint;  // null once detached
  PyObject* loop;      // strong
  PyObject* gone;      // what receive() returns once detached (strong)
  unsigned long thread;  // the event loop's thread: the only one that may use the channel
};

enum class StepKind { Receive, Send };
enum class StepState { Fresh, Waiting, Finished };

// The awaitable receive()/send() return: its own iterator (__await__ returns it).
struct StepObject {
  PyObject_HEAD
  ChannelObject* channel;  // strong
  PyObject* message;       // send's message (strong), else null
  StepKind kind;
  StepState state;
};

PyTypeObject channel_type = py::static_type("narwhal._core.AsgiChannel", sizeof(ChannelObject));
PyTypeObject step_type = py::static_type("narwhal._core.AsgiAwaitable", sizeof(StepObject));

void channel_dealloc(PyObject* self) {
  auto* channel = reinterpret_cast<ChannelObject*>(self);
  Py_CLEAR(channel->loop);
  Py_CLEAR(channel->gone);
  Py_TYPE(self)->tp_free(self);
}

void step_dealloc(PyObject* self) {
  auto* step = reinterpret_cast<StepObject*>(self);
  Py_CLEAR(step->channel);
  Py_CLEAR(step->message);
  Py_TYPE(self)->tp_free(self);
}

PyObject* new_step(ChannelObject* channel, StepKind kind, PyObject* message) {
  auto* step = PyObject_New(StepObject, &step_type);
  if (!step) return nullptr;
  Py_INCREF(channel);
  step->channel = channel;
  Py_XINCREF(message);
  step->message = message;
  step->kind = kind;
  step->state = StepState::Fresh;
  return reinterpret_cast<PyObject*>(step);
}

bool is_pending(const py::Ref& waiter) {
  if (!waiter) return false;
  py::Ref done = py::Ref::steal(PyObject_CallMethodNoArgs(waiter.get(), names().done));
  if (!done) {
    PyErr_Clear();
    return false;
  }
  return done.get() == Py_False;
}

// A Future of the channel's loop, marked the way asyncio.Task expects of what a coroutine
// yields (Future.__await__ does the same).
PyObject* new_waiter(ChannelObject* channel, py::Ref* slot) {
  if (is_pending(*slot)) {
    PyErr_SetString(PyExc_RuntimeError,
                    slot == &channel->endpoint->receive_waiter ? "receive() is already being awaited"
                                                               : "send() is already being awaited");
    return nullptr;
  }
  py::Ref future = py::Ref::steal(PyObject_CallMethodNoArgs(channel->loop, names().create_future));
  if (!future || PyObject_SetAttr(future.get(), names().future_blocking, Py_True) < 0) return nullptr;
  *slot = future;
  return future.release();
}

// One resumption of a receive()/send() awaitable: RETURN with the result (the event, or None),
// NEXT with a Future to wait for, or ERROR with the exception set.
PySendResult step_run(PyObject* self, PyObject** result) {
  auto* step = reinterpret_cast<StepObject*>(self);
  ChannelObject* channel = step->channel;
  *result = nullptr;
  if (step->state == StepState::Finished) {
    PyErr_SetString(PyExc_RuntimeError, "cannot reuse an already awaited receive()/send()");
    return PYGEN_ERROR;
  }
  if (PyThread_get_thread_ident() != channel->thread) {
    PyErr_SetString(PyExc_RuntimeError, "ASGI receive()/send() must be awaited on the worker's event loop thread "
                                         "(from another thread, use asyncio.run_coroutine_threadsafe)");
    return PYGEN_ERROR;
  }
  Endpoint* endpoint = channel->endpoint;
  if (!endpoint) {
    step->state = StepState::Finished;
    if (step->kind == StepKind::Send) {
      PyErr_SetString(PyExc_RuntimeError, "ASGI send() after the request or connection ended");
      return PYGEN_ERROR;
    }
    if (channel->gone) {
      *result = Py_NewRef(channel->gone);
    } else {  // made when asked: most requests never call receive() after they end
      *result = PyDict_New();
      if (*result && PyDict_SetItem(*result, names().type, names().http_disconnect) < 0) Py_CLEAR(*result);
    }
    return *result ? PYGEN_RETURN : PYGEN_ERROR;
  }
  Endpoint::Step outcome;
  py::Ref message;
  if (step->kind == StepKind::Receive) {
    outcome = endpoint->receive(&message);
  } else {
    outcome = step->state == StepState::Fresh ? endpoint->send(step->message) : endpoint->send_drained();
  }
  switch (outcome) {
    case Endpoint::Step::Done:
      step->state = StepState::Finished;
      *result = message ? message.release() : Py_NewRef(Py_None);
      return PYGEN_RETURN;
    case Endpoint::Step::Wait:
      step->state = StepState::Waiting;
      *result = new_waiter(channel, step->kind == StepKind::Receive ? &endpoint->receive_waiter : &endpoint->send_waiter);
      return *result ? PYGEN_NEXT : PYGEN_ERROR;
    case Endpoint::Step::Error:
      step->state = StepState::Finished;
      return PYGEN_ERROR;
  }
  return PYGEN_ERROR;
}

PySendResult step_am_send(PyObject* self, PyObject*, PyObject** result) { return step_run(self, result); }

PyObject* step_next(PyObject* self) {
  PyObject* result = nullptr;
  switch (step_run(self, &result)) {
    case PYGEN_NEXT:
      return result;
    case PYGEN_RETURN:
      if (result != Py_None) PyErr_SetObject(PyExc_StopIteration, result);
      Py_DECREF(result);
      return nullptr;
    case PYGEN_ERROR:
      return nullptr;
  }
  return nullptr;
}

PyObject* step_await(PyObject* self) {
  Py_INCREF(self);
  return self;
}

PyObject* step_send(PyObject* self, PyObject*) { return step_next(self); }

PyMethodDef step_methods[] = {
    {"send", step_send, METH_O, "Resumes the awaitable (the value is ignored)."},
    {nullptr, nullptr, 0, nullptr},
};

PyAsyncMethods step_async = {step_await, nullptr, nullptr, step_am_send};

PyObject* channel_receive(PyObject* self, PyObject*) {
  return new_step(reinterpret_cast<ChannelObject*>(self), StepKind::Receive, nullptr);
}

PyObject* channel_send(PyObject* self, PyObject* message) {
  return new_step(reinterpret_cast<ChannelObject*>(self), StepKind::Send, message);
}

PyMethodDef receive_def = {"receive", channel_receive, METH_NOARGS, "ASGI receive(): awaitable of the next event."};
PyMethodDef send_def = {"send", channel_send, METH_O, "ASGI send(message): awaitable."};

// ---- the app coroutine's wrapper (asyncio.Task runs it: send/throw/close, am_send) ----

struct DriverObject {
  PyObject_HEAD
  PyObject* inner;         // the app's coroutine (strong)
  ChannelObject* channel;  // strong
  bool finished;
};

PyTypeObject driver_type = py::static_type("narwhal._core.AsgiAppCoroutine", sizeof(DriverObject));

void driver_dealloc(PyObject* self) {
  auto* driver = reinterpret_cast<DriverObject*>(self);
  Py_CLEAR(driver->inner);
  Py_CLEAR(driver->channel);
  Py_TYPE(self)->tp_free(self);
}

// The app's coroutine is over (the current error, if `raised`): the endpoint takes it.
void driver_finish(DriverObject* driver, bool raised) {
  driver->finished = true;
  Endpoint* endpoint = driver->channel->endpoint;
  if (endpoint) {
    endpoint->app_ended(raised);
  } else if (raised) {
    PyErr_Clear();
  }
}

PySendResult driver_am_send(PyObject* self, PyObject* arg, PyObject** result) {
  auto* driver = reinterpret_cast<DriverObject*>(self);
  if (driver->finished) {
    *result = Py_NewRef(Py_None);
    return PYGEN_RETURN;
  }
  PySendResult status = PyIter_Send(driver->inner, arg, result);
  if (status == PYGEN_NEXT) return status;
  if (status == PYGEN_RETURN) Py_CLEAR(*result);
  driver_finish(driver, status == PYGEN_ERROR);
  *result = Py_NewRef(Py_None);
  return PYGEN_RETURN;  // the task ends normally: what went wrong is logged, not left in it
}

PyObject* driver_send(PyObject* self, PyObject* arg) {
  PyObject* result = nullptr;
  if (driver_am_send(self, arg, &result) == PYGEN_NEXT) return result;
  Py_DECREF(result);
  PyErr_SetNone(PyExc_StopIteration);
  return nullptr;
}

PyObject* driver_next(PyObject* self) {
  PyObject* result = nullptr;
  if (driver_am_send(self, Py_None, &result) == PYGEN_NEXT) return result;
  Py_DECREF(result);
  return nullptr;
}

// Task.cancel() and friends: thrown into the app's coroutine.
PyObject* driver_throw(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  auto* driver = reinterpret_cast<DriverObject*>(self);
  if (driver->finished) {
    PyErr_SetNone(PyExc_StopIteration);
    return nullptr;
  }
  py::Ref method = py::Ref::steal(PyObject_GetAttrString(driver->inner, "throw"));
  PyObject* yielded = method ? PyObject_Vectorcall(method.get(), args, static_cast<size_t>(nargs), nullptr) : nullptr;
  if (yielded) return yielded;
  if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
    PyErr_Clear();
    driver_finish(driver, false);
  } else {
    driver_finish(driver, true);
  }
  PyErr_SetNone(PyExc_StopIteration);
  return nullptr;
}

PyObject* driver_close(PyObject* self, PyObject*) {
  auto* driver = reinterpret_cast<DriverObject*>(self);
  driver->finished = true;
  return PyObject_CallMethod(driver->inner, "close", nullptr);
}

PyMethodDef driver_methods[] = {
    {"send", driver_send, METH_O, "Resumes the app's coroutine."},
    {"throw", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(driver_throw)), METH_FASTCALL,
     "Throws into the app's coroutine."},
    {"close", driver_close, METH_NOARGS, "Closes the app's coroutine."},
    {nullptr, nullptr, 0, nullptr},
};

PyAsyncMethods driver_async = {step_await, nullptr, nullptr, driver_am_send};

bool ready_types() {
  static bool ready = false;
  if (ready) return true;
  channel_type.tp_dealloc = channel_dealloc;
  channel_type.tp_doc = "One ASGI scope's receive/send (internal).";
  step_type.tp_dealloc = step_dealloc;
  step_type.tp_doc = "The awaitable of an ASGI receive() or send() (internal).";
  step_type.tp_as_async = &step_async;
  step_type.tp_iter = PyObject_SelfIter;
  step_type.tp_iternext = step_next;
  step_type.tp_methods = step_methods;
  driver_type.tp_dealloc = driver_dealloc;
  driver_type.tp_doc = "An ASGI application's coroutine as its task runs it (internal).";
  driver_type.tp_as_async = &driver_async;
  driver_type.tp_iter = PyObject_SelfIter;
  driver_type.tp_iternext = driver_next;
  driver_type.tp_methods = driver_methods;
  if (PyType_Ready(&channel_type) < 0 || PyType_Ready(&step_type) < 0 || PyType_Ready(&driver_type) < 0) return false;
  // asyncio.Task takes coroutines: collections.abc.Coroutine.register(AsgiAppCoroutine).
  py::Ref abc = py::Ref::steal(PyImport_ImportModule("collections.abc"));
  py::Ref coroutine = abc ? py::Ref::steal(PyObject_GetAttrString(abc.get(), "Coroutine")) : py::Ref();
  py::Ref registered = coroutine ? py::Ref::steal(PyObject_CallMethod(coroutine.get(), "register", "O", &driver_type)) : py::Ref();
  if (!registered) return false;
  ready = true;
  return true;
}

PyObject* intern(const char* text) { return PyUnicode_InternFromString(text); }

}  // namespace

void Endpoint::wake(py::Ref& waiter) {
  if (!waiter) return;
  py::Ref future = std::move(waiter);
  waiter.reset();
  if (!is_pending(future)) return;  // cancelled (the task was cancelled meanwhile)
  py::Ref done = py::Ref::steal(PyObject_CallMethodOneArg(future.get(), names().set_result, Py_None));
  if (!done) PyErr_Clear();
}

bool make_channel(Endpoint* endpoint, PyObject* loop, Channel* out) {
  if (!ready_types()) return false;
  auto* channel = PyObject_New(ChannelObject, &channel_type);
  if (!channel) return false;
  channel->endpoint = endpoint;
  Py_INCREF(loop);
  channel->loop = loop;
  channel->gone = nullptr;
  channel->thread = PyThread_get_thread_ident();
  out->object = py::Ref::steal(reinterpret_cast<PyObject*>(channel));
  out->receive = py::Ref::steal(PyCFunction_New(&receive_def, out->object.get()));
  out->send = py::Ref::steal(PyCFunction_New(&send_def, out->object.get()));
  return out->receive && out->send;
}

void detach_with(Channel& channel, PyObject* gone) {
  if (!channel.object) return;
  auto* object = reinterpret_cast<ChannelObject*>(channel.object.get());
  object->endpoint = nullptr;
  Py_XINCREF(gone);
  Py_XSETREF(object->gone, gone);
}

void detach(Channel& channel, PyObject* gone) {
  detach_with(channel, gone);  // null: receive() makes {"type": "http.disconnect"} when asked
  channel = Channel{};
}

bool register_types(PyObject* module) {
  if (!ready_types()) return false;
  Py_INCREF(&step_type);
  if (PyModule_AddObject(module, "AsgiAwaitable", reinterpret_cast<PyObject*>(&step_type)) < 0) {
    Py_DECREF(&step_type);
    return false;
  }
  return true;
}

py::Ref wrap_app_coroutine(PyObject* app_coroutine, const Channel& channel) {
  if (!ready_types()) return py::Ref();
  auto* driver = PyObject_New(DriverObject, &driver_type);
  if (!driver) return py::Ref();
  driver->inner = Py_NewRef(app_coroutine);
  driver->channel = reinterpret_cast<ChannelObject*>(Py_NewRef(channel.object.get()));
  driver->finished = false;
  return py::Ref::steal(reinterpret_cast<PyObject*>(driver));
}

const Names& names() {
  static Names* table = [] {
    py::ErrorSaver pending;  // first use may come with an exception in flight (app_ended)
    auto* n = new Names;
    n->type = intern("type");
    n->body = intern("body");
    n->more_body = intern("more_body");
    n->status = intern("status");
    n->headers = intern("headers");
    n->trailers = intern("trailers");
    n->bytes_ = intern("bytes");
    n->text = intern("text");
    n->code = intern("code");
    n->reason = intern("reason");
    n->subprotocol = intern("subprotocol");
    n->http_request = intern("http.request");
    n->http_disconnect = intern("http.disconnect");
    n->http_response_start = intern("http.response.start");
    n->http_response_body = intern("http.response.body");
    n->websocket_connect = intern("websocket.connect");
    n->websocket_accept = intern("websocket.accept");
    n->websocket_receive = intern("websocket.receive");
    n->websocket_send = intern("websocket.send");
    n->websocket_close = intern("websocket.close");
    n->websocket_disconnect = intern("websocket.disconnect");
    n->websocket_http_response_start = intern("websocket.http.response.start");
    n->websocket_http_response_body = intern("websocket.http.response.body");
    n->create_future = intern("create_future");
    n->create_task = intern("create_task");
    n->add_done_callback = intern("add_done_callback");
    n->set_result = intern("set_result");
    n->done = intern("done");
    n->cancelled = intern("cancelled");
    n->exception = intern("exception");
    n->future_blocking = intern("_asyncio_future_blocking");
    py::Ref exceptions = py::Ref::steal(PyImport_ImportModule("asyncio.exceptions"));
    n->cancelled_error = exceptions ? PyObject_GetAttrString(exceptions.get(), "CancelledError") : nullptr;
    PyErr_Clear();
    n->empty_bytes = PyBytes_FromStringAndSize("", 0);
    return n;
  }();
  return *table;
}

}  // namespace narwhal::asgi
