#include "core/engine/retention.h"

#include <spdlog/spdlog.h>

namespace taskd {

Retention::Retention(Strand strand, Clock& clock, Store& store, TaskTable& table,
                     Persister& persister, EventBus& events, LogPaths log_paths)
    : strand_(std::move(strand)),
      clock_(clock),
      store_(store),
      table_(table),
      persister_(persister),
      events_(events),
      log_paths_(std::move(log_paths)) {}

void Retention::Schedule(const std::string& id, SteadyTime at) {
  expiries_.Schedule(id, at);
  if (at < sweep_at_) Arm();
}

void Retention::Indexed(int64_t expire_ns) {
  if (expire_ns != INT64_MAX && SteadyFromNanos(expire_ns) < sweep_at_) Arm();
}

void Retention::Stop() {
  stopped_ = true;
  sweep_timer_.reset();
}

std::optional<SteadyTime> Retention::Next() {
  std::optional<SteadyTime> next = expiries_.Next();
  if (const int64_t ns = table_.ended().NextDeadline(); ns != INT64_MAX) {
    if (!next || SteadyFromNanos(ns) < *next) next = SteadyFromNanos(ns);
  }
  return next;
}

void Retention::Arm() {
  auto next = Next();
  if (!next || stopped_) return;
  sweep_at_ = *next;
  sweep_timer_ = clock_.RunAt(sweep_at_, strand_, [this] { Sweep(); });
}

void Retention::Sweep() {
  sweep_at_ = SteadyTime::max();
  const SteadyTime now = clock_.SteadyNow();
  std::string id;
  while (expiries_.PopDue(now, &id)) {
    auto it = table_.Find(id);
    if (it != table_.end() && IsTerminal(it->second.task.state)) {
      spdlog::debug("task {}: retention ended; deleting", id);
      Erase(id);
    }
  }
  if (table_.evicts()) ExpireEnded(now);
  Arm();
}

void Retention::ExpireEnded(SteadyTime now) {
  std::vector<std::string> ids;
  std::vector<EndedTask> wanted;  // the expiring tasks whose delete event carries the task
  EndedTask e;
  const int64_t now_ns = NanosSinceEpoch(now);
  const bool wanted_deleted = events_.Wants(TaskEvent::Type::kDeleted);
  while (ids.size() < kExpireBatch && table_.ended().PopDue(now_ns, &e)) {
    table_.Deleting(e.key);
    ids.push_back(TaskIdFromNumber(e.key));
    if (wanted_deleted) wanted.push_back(e);
  }
  if (ids.empty()) return;
  spdlog::debug("{} finished tasks reached the end of their retention; deleting", ids.size());
  if (wanted.empty()) return DeleteRows(std::move(ids), Persister::OnCommit::kNotify);
  // Watchers filter on more than the index holds: their events carry the
  // task, read on an io thread. The rows are deleted once read; the table
  // hides them meanwhile.
  RunOffStrand(
      strand_,
      [this, wanted = std::move(wanted)] {
        std::vector<Task> tasks(wanted.size());
        for (size_t i = 0; i < wanted.size(); ++i) {
          auto stored = store_.Read(wanted[i].key);
          if (stored.ok() && *stored) {
            tasks[i] = std::move(**stored);
          } else {
            tasks[i].id = TaskIdFromNumber(wanted[i].key);
            tasks[i].state = wanted[i].state();
          }
        }
        return tasks;
      },
      [this, ids = std::move(ids)](std::vector<Task> tasks) mutable {
        if (stopped_) return;  // shutting down: they expire again at the next start
        const WallTime now = clock_.WallNow();
        for (const Task& task : tasks) events_.Emit(TaskEvent::Type::kDeleted, task, now);
        DeleteRows(std::move(ids), Persister::OnCommit::kNotify);
      });
}

void Retention::DeleteRows(std::vector<std::string> ids, Persister::OnCommit on_commit,
                           std::function<void()> logs_gone) {
  std::vector<std::filesystem::path> paths;
  for (const auto& id : ids) {
    for (auto& path : log_paths_(id)) paths.push_back(std::move(path));
  }
  // The ids are never reused, so nothing can create these files again.
  RunOffStrand(
      strand_,
      [paths = std::move(paths)] {
        for (const auto& path : paths) {
          std::error_code ec;
          std::filesystem::remove(path, ec);
        }
      },
      [logs_gone = std::move(logs_gone)] {
        if (logs_gone) logs_gone();
      });
  persister_.Delete(std::move(ids), on_commit);
}

void Retention::Erase(const std::string& id, std::function<void()> logs_gone) {
  auto it = table_.Find(id);
  if (it == table_.end()) return;
  Task task = table_.Remove(it);
  DeleteRows({id}, Persister::NotifyIf(table_.evicts()), std::move(logs_gone));
  events_.Emit(TaskEvent::Type::kDeleted, task, clock_.WallNow());
}

void Retention::EraseStored(const Task& task, std::function<void()> logs_gone) {
  table_.RemoveStored(task);
  DeleteRows({task.id}, Persister::OnCommit::kNotify, std::move(logs_gone));
  events_.Emit(TaskEvent::Type::kDeleted, task, clock_.WallNow());
}

}  // namespace taskd
