// `taskctl top`: a live full-screen view fed by WatchTasks.
//
// One thread reads the watch stream into a model (running and pending
// tasks, and the most recently ended ones); the main thread owns the
// terminal: raw mode, the alternate screen, keys, and a redraw at most ten
// times a second (and every second for the elapsed times). A lost
// connection is shown on the header line and retried every second.
#include <google/protobuf/util/time_util.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <ctime>

#include "client/duration.h"
#include "taskctl/taskctl.h"

namespace taskd::taskctl {
namespace {

using google::protobuf::util::TimeUtil;

std::atomic<bool> g_quit{false};
std::atomic<bool> g_resized{false};

void OnQuitSignal(int) { g_quit = true; }
void OnResize(int) { g_resized = true; }

constexpr size_t kRecentKept = 200;

struct Model {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool dirty = true;
  bool connected = false;
  std::string error;
  std::map<std::string, v1::Task> live;    // PENDING and RUNNING
  std::map<std::string, v1::Task> recent;  // ended; the newest kRecentKept
  client::Client::TaskWatch* watch = nullptr;

  void Apply(const v1::TaskEvent& e) {
    const v1::Task& t = e.task();
    if (e.type() == v1::TaskEvent::TYPE_DELETED) {
      live.erase(t.id());
      recent.erase(t.id());
    } else if (IsTerminal(t.state())) {
      live.erase(t.id());
      recent[t.id()] = t;
      if (recent.size() > kRecentKept) {
        auto oldest = std::min_element(recent.begin(), recent.end(), [](auto& a, auto& b) {
          return TimeUtil::TimestampToNanoseconds(a.second.end_time()) <
                 TimeUtil::TimestampToNanoseconds(b.second.end_time());
        });
        recent.erase(oldest);
      }
    } else {
      live[t.id()] = t;
    }
    dirty = true;
  }
};

void WatchLoop(client::Client& client, Model& m) {
  while (true) {
    v1::WatchTasksRequest req;
    req.set_initial_snapshot(true);
    auto watch = client.Watch(req);
    {
      std::lock_guard lock(m.mu);
      if (m.stop) return;
      m.watch = watch.get();
      m.live.clear();
      m.recent.clear();
    }
    v1::TaskEvent event;
    bool first = true;
    while (watch->Next(&event)) {
      std::lock_guard lock(m.mu);
      if (first) {
        m.connected = true;
        m.error.clear();
        first = false;
      }
      m.Apply(event);
    }
    auto status = watch->Finish();
    std::unique_lock lock(m.mu);
    m.watch = nullptr;
    if (m.stop) return;
    m.connected = false;
    m.error = status.ok() ? "the watch ended" : status.error_message();
    m.dirty = true;
    m.cv.wait_for(lock, std::chrono::seconds(1), [&] { return m.stop; });
    if (m.stop) return;
  }
}

// Running (or ran) for, else waiting for.
std::string Elapsed(const v1::Task& t) {
  return t.has_start_time() ? RunTime(t) : client::FormatDuration(Since(t.create_time()));
}

int64_t Nanos(const google::protobuf::Timestamp& t) { return TimeUtil::TimestampToNanoseconds(t); }

// The screen as lines of at most `cols` columns.
std::vector<std::string> Render(Model& m, const std::string& addr, size_t rows, size_t cols,
                                bool color) {
  std::vector<const v1::Task*> running, pending, ended;
  for (const auto& [id, t] : m.live) {
    (t.state() == v1::TASK_STATE_RUNNING ? running : pending).push_back(&t);
  }
  for (const auto& [id, t] : m.recent) ended.push_back(&t);
  std::sort(running.begin(), running.end(),
            [](auto* a, auto* b) { return Nanos(a->start_time()) < Nanos(b->start_time()); });
  std::sort(pending.begin(), pending.end(), [](auto* a, auto* b) {
    if (a->spec().priority() != b->spec().priority())
      return a->spec().priority() > b->spec().priority();
    return a->id() < b->id();
  });
  std::sort(ended.begin(), ended.end(),
            [](auto* a, auto* b) { return Nanos(a->end_time()) > Nanos(b->end_time()); });

  std::vector<std::pair<std::string, std::string>> lines;  // plain, shown
  char clock[16];
  std::time_t now = std::time(nullptr);
  std::strftime(clock, sizeof(clock), "%H:%M:%S", std::localtime(&now));
  std::string head = "taskd top  " + std::to_string(running.size()) + " running, " +
                     std::to_string(pending.size()) + " pending, " + std::to_string(ended.size()) +
                     " recently ended  " + clock + "  (q quits)";
  lines.emplace_back(head, head);
  std::string status =
      m.connected ? addr : "not connected to " + addr + ": " + m.error + " (retrying)";
  lines.emplace_back(status, m.connected || !color ? status : "\033[31m" + status + "\033[0m");
  lines.emplace_back("", "");
  // ID 13, STATE 10, BAR 22, PCT 5, ELAPSED 8, then name and message.
  char header_buf[128];
  std::snprintf(header_buf, sizeof(header_buf), "%-13s %-10s %-22s %5s %-8s %s", "ID", "STATE",
                "PROGRESS", "%", "ELAPSED", "NAME");
  std::string header = header_buf;
  lines.emplace_back(header, color ? "\033[1m" + header + "\033[0m" : header);
  auto row = [&](const v1::Task& t) {
    std::string state = StateName(t.state());
    std::string state_pad = state + std::string(state.size() < 10 ? 10 - state.size() : 0, ' ');
    bool has_pct = t.has_progress() || t.state() == v1::TASK_STATE_COMPLETED;
    double pct = t.state() == v1::TASK_STATE_COMPLETED ? 100.0 : t.progress().percent();
    char pct_text[16];
    std::snprintf(pct_text, sizeof(pct_text), "%4.0f%%", pct);
    std::string bar_plain = has_pct ? Bar(pct, 22, false) : std::string(22, ' ');
    std::string bar_shown = has_pct ? Bar(pct, 22, color) : bar_plain;
    std::string pct_col = has_pct ? pct_text : "     ";
    std::string elapsed = Elapsed(t);
    elapsed += std::string(elapsed.size() < 8 ? 8 - elapsed.size() : 0, ' ');
    std::string prefix_plain =
        Fit(t.id(), 13) + " " + state_pad + " " + bar_plain + " " + pct_col + " " + elapsed + " ";
    std::string prefix_shown = Fit(t.id(), 13) + " " + Colored(state_pad, t.state(), color) + " " +
                               bar_shown + " " + pct_col + " " + elapsed + " ";
    // The name cut short enough that the progress message stays in view.
    std::string rest = t.progress().message().empty() ? Describe(t) : Fit(Describe(t), 30);
    if (!t.progress().message().empty()) rest += ": " + t.progress().message();
    if (t.state() == v1::TASK_STATE_FAILED && t.has_result() && t.result().has_exit_code())
      rest += " (exit " + std::to_string(t.result().exit_code()) + ")";
    size_t used = prefix_plain.size();
    if (used >= cols) {
      lines.emplace_back(prefix_plain, prefix_plain);
    } else {
      std::string tail = Fit(rest, cols - used);
      lines.emplace_back(prefix_plain + tail, prefix_shown + tail);
    }
  };
  for (auto* t : running) row(*t);
  for (auto* t : pending) row(*t);
  for (auto* t : ended) row(*t);

  if (lines.size() > rows && rows > 1) {
    // The last row says how many did not fit.
    size_t hidden = lines.size() - rows + 1;
    lines.resize(rows - 1);
    std::string more = "… " + std::to_string(hidden) + " more (a taller terminal shows them)";
    lines.emplace_back(more, more);
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < lines.size() && i < rows; ++i) {
    const auto& [plain, shown] = lines[i];
    out.push_back(Columns(plain) > cols ? Fit(plain, cols) : shown);
  }
  return out;
}

class Terminal {
 public:
  Terminal() {
    ::tcgetattr(STDIN_FILENO, &saved_);
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    Put("\033[?1049h\033[?25l\033[H\033[2J");  // alternate screen, hide the cursor
  }
  ~Terminal() {
    Put("\033[?25h\033[?1049l");
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  static void Put(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::write(STDOUT_FILENO, s.data() + off, s.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  static std::pair<size_t, size_t> Size() {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
      return {ws.ws_row, ws.ws_col};
    return {24, 80};
  }

 private:
  termios saved_{};
};

}  // namespace

int RunTop(client::Client& client, const std::string& addr) {
  if (::isatty(STDIN_FILENO) != 1 || ::isatty(STDOUT_FILENO) != 1) {
    std::fprintf(stderr,
                 "taskctl: top needs a terminal; for a pipe use `taskctl list --watch -o "
                 "jsonl`\n");
    return kExitUsage;
  }
  struct sigaction quit {};
  quit.sa_handler = OnQuitSignal;  // no SA_RESTART: poll() returns at once
  ::sigaction(SIGINT, &quit, nullptr);
  ::sigaction(SIGTERM, &quit, nullptr);
  ::sigaction(SIGHUP, &quit, nullptr);
  struct sigaction winch {};
  winch.sa_handler = OnResize;
  ::sigaction(SIGWINCH, &winch, nullptr);

  bool color = UseColor(stdout);
  Model model;
  std::thread watcher([&] { WatchLoop(client, model); });
  {
    Terminal term;
    auto last_draw = std::chrono::steady_clock::time_point{};
    while (!g_quit) {
      pollfd pfd{STDIN_FILENO, POLLIN, 0};
      int n = ::poll(&pfd, 1, 100);
      if (n > 0 && (pfd.revents & POLLIN)) {
        char keys[32];
        ssize_t got = ::read(STDIN_FILENO, keys, sizeof(keys));
        if (got == 0) break;  // the terminal went away
        for (ssize_t i = 0; i < got; ++i) {
          if (keys[i] == 'q' || keys[i] == 'Q' || keys[i] == 3) g_quit = true;
        }
      } else if (n > 0 && (pfd.revents & (POLLHUP | POLLERR))) {
        break;
      }
      auto now = std::chrono::steady_clock::now();
      std::vector<std::string> screen;
      {
        std::lock_guard lock(model.mu);
        bool due = now - last_draw >= std::chrono::seconds(1);
        if (!(model.dirty || due || g_resized)) continue;
        if (now - last_draw < std::chrono::milliseconds(100) && !g_resized) continue;
        auto [rows, cols] = Terminal::Size();
        screen = Render(model, addr, rows, cols, color);
        model.dirty = false;
      }
      std::string frame = g_resized.exchange(false) ? "\033[2J\033[H" : "\033[H";
      for (size_t i = 0; i < screen.size(); ++i) {
        frame += screen[i] + "\033[K" + (i + 1 < screen.size() ? "\r\n" : "");
      }
      frame += "\033[J";
      Terminal::Put(frame);
      last_draw = now;
    }
  }
  {
    std::lock_guard lock(model.mu);
    model.stop = true;
    if (model.watch) model.watch->Cancel();
  }
  model.cv.notify_all();
  watcher.join();
  return 0;
}

}  // namespace taskd::taskctl
