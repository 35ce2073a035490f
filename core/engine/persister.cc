#include "core/engine/persister.h"

#include <spdlog/spdlog.h>

namespace taskd {

Persister::Persister(Store& store, Strand strand, Clock& clock, Hooks hooks)
    : store_(store), strand_(std::move(strand)), clock_(clock), hooks_(std::move(hooks)) {}

Persister::~Persister() = default;

void Persister::Put(const Task& task, OnCommit on_commit) {
  if (!store_.durable()) return;
  std::vector<StoreOp> ops;
  ops.push_back(StoreOp{StoreOp::Kind::kPut, task, {}});
  store_.Write(std::move(ops), OnWritten({task.id}, WriteOf::kPuts, WriteTry::kFirst, on_commit));
}

void Persister::Delete(std::vector<std::string> ids, OnCommit on_commit) {
  std::vector<StoreOp> ops;
  ops.reserve(ids.size());
  for (const auto& id : ids) {
    StoreOp op;
    op.kind = StoreOp::Kind::kDelete;
    op.id = id;
    ops.push_back(std::move(op));
  }
  store_.Write(std::move(ops),
               OnWritten(std::move(ids), WriteOf::kDeletes, WriteTry::kFirst, on_commit));
}

std::function<void(Status)> Persister::OnWritten(std::vector<std::string> ids, WriteOf of,
                                                 WriteTry attempt, OnCommit on_commit) {
  return [this, ids = std::move(ids), of, attempt, on_commit,
          alive = std::weak_ptr<int>(alive_)](Status s) {
    if (s.ok()) {
      if (attempt == WriteTry::kRetry) {
        spdlog::info("{} task changes that had failed are persisted now", ids.size());
      }
      if (on_commit == OnCommit::kNotify && !alive.expired()) {
        asio::post(strand_, [this, ids, of, alive] {
          if (!alive.expired()) hooks_.committed(ids, of);
        });
      }
      return;
    }
    for (const auto& id : ids) {
      spdlog::error("task {}: change not persisted ({}); retrying", id, s.message());
    }
    if (alive.expired()) return;
    asio::post(strand_, [this, ids, alive] {
      if (alive.expired()) return;
      unpersisted_.insert(ids.begin(), ids.end());
      if (!retry_timer_) retry_timer_ = clock_.RunAfter(kRetryEvery, strand_, [this] { Retry(); });
    });
  };
}

void Persister::Retry() {
  retry_timer_.reset();
  auto ids = std::move(unpersisted_);
  unpersisted_.clear();
  // Puts and deletions go in separate writes: each commit says which it was.
  std::vector<StoreOp> puts, dels;
  std::vector<std::string> put_ids, del_ids;
  for (const auto& id : ids) {
    StoreOp op;
    if (const Task* task = hooks_.current(id)) {
      op.task = *task;
      puts.push_back(std::move(op));
      put_ids.push_back(id);
    } else if (hooks_.deletion_pending(id)) {
      op.kind = StoreOp::Kind::kDelete;
      op.id = id;
      dels.push_back(std::move(op));
      del_ids.push_back(id);
    }
  }
  if (!puts.empty()) {
    store_.Write(std::move(puts),
                 OnWritten(std::move(put_ids), WriteOf::kPuts, WriteTry::kRetry, hooks_.retries));
  }
  if (!dels.empty()) {
    store_.Write(std::move(dels), OnWritten(std::move(del_ids), WriteOf::kDeletes, WriteTry::kRetry,
                                            hooks_.retries));
  }
}

}  // namespace taskd
