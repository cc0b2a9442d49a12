// Settings: the ASGI worker (gunicorn 24+'s names, flags and defaults) and narwhal's WebSocket
// limits.
#include "config/table_rows.h"

namespace narwhal::config {

void add_asgi_settings(std::vector<Setting>& rows) {
  rows.push_back({
      .name = "asgi_loop",
      .section = "ASGI",
      .flags = {"--asgi-loop"},
      .metavar = "STRING",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("auto"),
      .default_text = "",
      .validate = validate_choice({"auto", "asyncio", "uvloop"}),
      .short_doc = "The asyncio event loop the ASGI worker runs.",
      .doc = "`auto` takes uvloop when it can be imported (Debian: python3-uvloop), else asyncio's "
             "own loop; `asyncio` and `uvloop` ask for one (`uvloop` fails the worker's boot when it "
             "is missing). Only the `asgi` worker type uses it. The loop runs the application's "
             "coroutines; narwhal's C++ core still accepts, parses and writes (docs/asgi.md).",
  });
  rows.push_back({
      .name = "asgi_lifespan",
      .section = "ASGI",
      .flags = {"--asgi-lifespan"},
      .metavar = "STRING",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("auto"),
      .default_text = "",
      .validate = validate_choice({"auto", "on", "off"}),
      .short_doc = "The ASGI lifespan protocol: auto, on or off.",
      .doc = "`auto` runs the lifespan protocol and carries on when the application does not "
             "support it (it raises on the lifespan scope); `on` requires it (a failure stops the "
             "worker, and the master exits as for an import error); `off` never sends lifespan "
             "events. Startup runs in each worker before it accepts connections, shutdown when it "
             "stops. Only the `asgi` worker type uses it.",
  });
  rows.push_back({
      .name = "asgi_disconnect_grace_period",
      .section = "ASGI",
      .flags = {"--asgi-disconnect-grace-period"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{3},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Seconds an ASGI application has to finish after its client disconnected.",
      .doc = "When a client goes away, the application's next `receive()` gets `http.disconnect` "
             "(`websocket.disconnect`); a request task still running this many seconds later is "
             "cancelled. `0` cancels at once. At a graceful stop, open WebSockets are closed with "
             "code 1001 after this many seconds. Only the `asgi` worker type uses it.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "root_path",
      .section = "ASGI",
      .flags = {"--root-path"},
      .metavar = "STRING",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string(""),
      .default_text = "",
      .validate = validate_string(),
      .short_doc = "The root path an ASGI application is mounted at (scope `root_path`).",
      .doc = "Given to the application as the scope's `root_path`, for applications served below "
             "a path prefix by a proxy that strips it. `path` stays the request's path, as in "
             "gunicorn's ASGI worker.",
  });
  rows.push_back({
      .name = "websocket_max_message_size",
      .section = "ASGI",
      .flags = {"--websocket-max-message-size"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{16 * 1024 * 1024},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "The largest WebSocket message accepted, in bytes (narwhal's own).",
      .doc = "A message from the client beyond this size (after decompression) closes the "
             "connection with code 1009, as uvicorn's `ws_max_size` (same default, 16 MiB).",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "websocket_ping_interval",
      .section = "ASGI",
      .flags = {"--websocket-ping-interval"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{20},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Seconds between the server's pings on an idle WebSocket (narwhal's own).",
      .doc = "A WebSocket that received nothing for this long gets a ping; a peer that does not "
             "answer within another interval is closed (1011). `0` sends no pings. Pings from the "
             "client are answered by the server in any case (uvicorn's `ws_ping_interval`).",
      .cli_value = Setting::CliValue::Int,
  });
}

}  // namespace narwhal::config
