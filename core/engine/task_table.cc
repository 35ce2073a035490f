#include "core/engine/task_table.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace taskd {

namespace {

unsigned StateBit(TaskState s) { return 1u << static_cast<unsigned>(s); }
constexpr unsigned kEndedStates = (1u << 3) | (1u << 4) | (1u << 5);

}  // namespace

TaskTable::TaskTable(Store& store)
    : store_(store), evict_(store.durable() && store.serves_reads()) {}

TaskTable::Map::iterator TaskTable::Find(std::string_view id) {
  auto key = TaskIdNumber(id);
  return key ? tasks_.find(*key) : tasks_.end();
}

TaskEntry* TaskTable::Insert(Task task) {
  auto key = TaskIdNumber(task.id);
  if (!key) {
    spdlog::error("task {}: not a task id; ignored", task.id);
    return nullptr;
  }
  auto [it, inserted] = tasks_.try_emplace(*key);
  if (!inserted) return nullptr;
  TaskEntry& e = it->second;
  e.task = std::move(task);
  // The key views the entry's own request_id, which lives as long as the
  // entry. The first task keeps a request_id (two stored tasks could share one).
  if (!e.task.request_id.empty()) request_ids_.emplace(e.task.request_id.view(), *key);
  return &e;
}

const Task* TaskTable::ByRequestId(std::string_view request_id) const {
  auto it = request_ids_.find(request_id);
  return it == request_ids_.end() ? nullptr : &tasks_.at(it->second).task;
}

void TaskTable::Unindex(Map::iterator it) {
  if (const Task& task = it->second.task; !task.request_id.empty()) {
    auto rid = request_ids_.find(task.request_id.view());
    if (rid != request_ids_.end() && rid->second == it->first) request_ids_.erase(rid);
  }
}

Task TaskTable::Remove(Map::iterator it) {
  Unindex(it);
  // Until the deletion commits the store still has the row: reads must not see it.
  if (evict_) MarkDeleting(it->first);
  Task task = std::move(it->second.task);
  tasks_.erase(it);
  return task;
}

bool TaskTable::Evict(Map::iterator it, int64_t expire_ns, bool released) {
  if (!released && !outside_reads_.empty()) {
    waiting_evictions_.emplace_back(++tickets_, it->first);
    ++waiting_keys_[it->first];
    return false;
  }
  const Task& t = it->second.task;
  EndedTask ended;
  ended.key = it->first;
  ended.rid_state = EndedTask::Pack(RequestIdHash(t.request_id), t.state);
  ended.expire_ns = expire_ns;
  Unindex(it);
  tasks_.erase(it);
  ended_.Add(ended);
  return true;
}

void TaskTable::Deleted(uint64_t key) {
  deleting_.erase(key);
  if (outside_reads_.empty()) return;
  deleted_while_read_.emplace_back(++tickets_, key);
  deleted_keys_.insert(key);
}

uint64_t TaskTable::BeginOutsideRead() {
  outside_reads_.insert(++tickets_);
  return tickets_;
}

std::vector<uint64_t> TaskTable::EndOutsideRead(uint64_t ticket) {
  outside_reads_.erase(ticket);
  // What happened after the oldest read still out began is still needed.
  const uint64_t oldest = outside_reads_.empty() ? UINT64_MAX : *outside_reads_.begin();
  while (!deleted_while_read_.empty() && deleted_while_read_.front().first < oldest) {
    deleted_keys_.erase(deleted_while_read_.front().second);
    deleted_while_read_.pop_front();
  }
  std::vector<uint64_t> evict;
  while (!waiting_evictions_.empty() && waiting_evictions_.front().first < oldest) {
    evict.push_back(waiting_evictions_.front().second);
    if (auto w = waiting_keys_.find(waiting_evictions_.front().second); --w->second == 0) {
      waiting_keys_.erase(w);
    }
    waiting_evictions_.pop_front();
  }
  return evict;
}

void TaskTable::RemoveStored(const Task& task) {
  EndedTask e;
  e.key = TaskKey(task.id);
  e.rid_state = EndedTask::Pack(RequestIdHash(task.request_id), task.state);
  ended_.Remove(e);
  MarkDeleting(e.key);
}

StatusOr<std::optional<Task>> TaskTable::ReadStored(std::string_view id) {
  if (!evict_) return std::optional<Task>();
  auto key = TaskIdNumber(id);
  if (!key || IsDeleting(*key)) {
    return std::optional<Task>();
  }
  if (prefetched_) {
    if (auto it = prefetched_->by_key.find(*key); it != prefetched_->by_key.end())
      return it->second;
  }
  return store_.Read(*key);
}

StatusOr<Task> TaskTable::StoredOrNotFound(std::string_view id) {
  auto stored = ReadStored(id);
  if (!stored.ok()) return stored.status();
  if (!*stored) return TaskNotFound(id);
  return std::move(**stored);
}

Status TaskTable::TaskNotFound(std::string_view id) {
  return NotFound("task " + Quote(id) + " not found");
}

StatusOr<std::optional<Task>> TaskTable::Lookup(std::string_view id) {
  auto it = Find(id);
  if (it != tasks_.end()) return std::optional<Task>(it->second.task);
  return ReadStored(id);
}

StatusOr<std::optional<Task>> TaskTable::StoredByRequestId(const std::string& request_id) {
  // Only a finished task in the store may hold it (or only its hash).
  if (!evict_ || !ended_.MayHaveRequestId(RequestIdHash(request_id))) return std::optional<Task>();
  const std::vector<Task>* ahead = nullptr;
  if (prefetched_) {
    auto it = prefetched_->by_request_id.find(request_id);
    if (it != prefetched_->by_request_id.end()) ahead = &it->second;
  }
  auto stored = ahead ? StatusOr<std::vector<Task>>(*ahead) : store_.ReadByRequestId(request_id);
  if (!stored.ok()) return stored.status();
  auto first = std::find_if(stored->begin(), stored->end(), [&](const Task& t) {
    auto key = TaskIdNumber(t.id);
    return key && !IsDeleting(*key) && !tasks_.count(*key);
  });
  if (first == stored->end()) return std::optional<Task>();
  return std::optional<Task>(std::move(*first));
}

namespace {

uint64_t StartKey(const ListRequest& request) {
  return request.start_after.empty() ? 0 : TaskIdNumber(request.start_after).value_or(0);
}

// The finished states a filter asks for, as a ReadEnded mask.
unsigned EndedMask(const TaskFilter& filter) {
  if (filter.states.empty()) return kEndedStates;
  unsigned mask = 0;
  for (TaskState st : filter.states) mask |= StateBit(st);
  return mask & kEndedStates;
}

}  // namespace

std::vector<uint64_t> TaskTable::OnlyInStore(const std::vector<std::string>& ids) const {
  std::vector<uint64_t> keys;
  if (!evict_) return keys;
  for (const auto& id : ids) {
    auto key = TaskIdNumber(id);
    if (key && !IsDeleting(*key) && (!tasks_.count(*key) || LeavingRam(*key))) {
      keys.push_back(*key);
    }
  }
  return keys;
}

bool TaskTable::ScansStore(const ListRequest& request) const {
  return evict_ && request.filter.ids.empty() && EndedMask(request.filter) != 0;
}

TaskTable::EndedAhead TaskTable::ReadEndedAhead(Store& store, const ListRequest& request) {
  EndedAhead out;
  out.scanned = StartKey(request);
  const unsigned mask = EndedMask(request.filter);
  const size_t want = std::max<size_t>(1, request.page_size) + 1;
  size_t budget = kListScanRows;
  while (budget > 0) {
    auto got = store.ReadEnded(out.scanned, std::min<size_t>(budget, 256), mask,
                               [](uint64_t) { return false; });
    if (!got.ok()) {
      out.status = got.status();
      return out;
    }
    budget -= std::min(budget, got->rows);
    if (got->rows > 0) out.scanned = got->last_key;
    for (auto& t : got->tasks) {
      if (request.filter.Matches(t)) out.tasks.push_back(std::move(t));
    }
    if (!got->more) {
      out.done = true;
      break;
    }
    if (out.tasks.size() >= want) break;
  }
  return out;
}

StatusOr<ListResult> TaskTable::List(const ListRequest& request, EndedAhead* ahead) {
  // With ids, ListMerged looks each one up instead of scanning every task.
  if (evict_ || !request.filter.ids.empty()) return ListMerged(request, ahead);
  ListResult result;
  size_t page = std::max<size_t>(1, request.page_size);
  auto it = request.start_after.empty()
                ? tasks_.begin()
                : tasks_.upper_bound(TaskIdNumber(request.start_after).value_or(0));
  for (; it != tasks_.end(); ++it) {
    if (!request.filter.Matches(it->second.task)) continue;
    if (result.tasks.size() == page) {
      result.last_id = result.tasks.back().id;
      break;
    }
    result.tasks.push_back(it->second.task);
  }
  return result;
}

StatusOr<ListResult> TaskTable::Snapshot(ListRequest request) {
  TaskFilter& filter = request.filter;
  if (evict_ && filter.ids.empty()) {
    // Finished tasks are not part of it (see SnapshotPage): asking only for
    // unfinished states keeps ListMerged in RAM, away from the store.
    std::vector<TaskState> unfinished;
    for (TaskState st : {TaskState::kPending, TaskState::kRunning}) {
      if (filter.states.empty() ||
          std::find(filter.states.begin(), filter.states.end(), st) != filter.states.end()) {
        unfinished.push_back(st);
      }
    }
    if (unfinished.empty()) return ListResult{};
    filter.states = std::move(unfinished);
  }
  return List(request);
}

// Tasks in RAM (unfinished, or finished and not evicted yet) merged in id
// order with finished tasks only in the store.
StatusOr<ListResult> TaskTable::ListMerged(const ListRequest& request, EndedAhead* ahead) {
  ListResult result;
  const size_t page = std::max<size_t>(1, request.page_size);
  const TaskFilter& filter = request.filter;
  const uint64_t after = StartKey(request);
  // Adds `t` when it matches; false once the page is full and `t` is a
  // further match (so more may follow).
  auto take = [&](const Task& t) {
    if (!filter.Matches(t)) return true;
    if (result.tasks.size() == page) {
      result.last_id = result.tasks.back().id;
      return false;
    }
    result.tasks.push_back(t);
    return true;
  };
  if (!filter.ids.empty()) {
    // A few ids: look each up.
    std::vector<uint64_t> keys;
    for (const auto& id : filter.ids) {
      if (auto key = TaskIdNumber(id); key && *key > after) keys.push_back(*key);
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (uint64_t key : keys) {
      auto t = Lookup(TaskIdFromNumber(key));
      if (!t.ok()) {
        // An error, not a page missing the task: the caller would take it as complete.
        spdlog::error("list: cannot read task {}: {}", TaskIdFromNumber(key), t.status().message());
        return t.status();
      }
      if (*t && !take(**t)) break;
    }
    return result;
  }
  const unsigned mask = EndedMask(filter);
  auto ram = tasks_.upper_bound(after);
  // Store rows with keys up to `scanned` have been read; all of them when
  // store_done.
  uint64_t scanned = after;
  bool store_done = mask == 0;
  size_t budget = kListScanRows;
  std::vector<Task> buf;
  size_t next = 0;  // into buf
  auto in_ram_or_deleted = [this](uint64_t key) {
    return tasks_.count(key) > 0 || IsDeleting(key);
  };
  for (;;) {
    if (next == buf.size() && !store_done && (ram == tasks_.end() || ram->first > scanned)) {
      if (budget == 0) {
        // Scanned enough for one call: the client continues from here.
        if (result.last_id.empty() || TaskKey(result.last_id) < scanned) {
          result.last_id = TaskIdFromNumber(scanned);
        }
        return result;
      }
      buf.clear();
      next = 0;
      if (ahead) {
        // Read off the strand: every row this call may scan, at once. RAM
        // is newer than the store for a task in both.
        if (!ahead->status.ok()) {
          spdlog::error("list: cannot read finished tasks: {}", ahead->status.message());
          return ahead->status;
        }
        for (Task& t : ahead->tasks) {
          if (!in_ram_or_deleted(TaskKey(t.id))) buf.push_back(std::move(t));
        }
        scanned = std::max(scanned, ahead->scanned);
        store_done = ahead->done;
        budget = 0;
        ahead = nullptr;
        continue;
      }
      auto got = store_.ReadEnded(scanned, std::min<size_t>(budget, 256), mask, in_ram_or_deleted);
      if (!got.ok()) {
        spdlog::error("list: cannot read finished tasks: {}", got.status().message());
        return got.status();
      }
      budget -= std::min(budget, got->rows);
      if (got->rows > 0) scanned = got->last_key;
      if (!got->more) store_done = true;
      buf = std::move(got->tasks);
      continue;
    }
    const bool have_ram = ram != tasks_.end() && (store_done || ram->first <= scanned);
    const bool have_buf = next < buf.size();
    if (!have_ram && !have_buf) return result;  // nothing left anywhere
    if (have_ram && (!have_buf || ram->first < TaskKey(buf[next].id))) {
      if (!take(ram->second.task)) return result;
      ++ram;
    } else {
      if (!take(buf[next])) return result;
      ++next;
    }
  }
}

}  // namespace taskd
