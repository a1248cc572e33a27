-- Replays pre-signed requests, one file per wrk thread (run wrk with -t N -c N: one
-- connection, hence one API key and one rising nonce sequence, per thread), and counts
-- the answers by status. File format, one request per line, tab-separated:
--   METHOD <tab> PATH <tab> API-Key <tab> API-Sign <tab> JSON body
-- REPLAY_DIR names the folder holding 0.req, 1.req, ...; when a thread has sent all its
-- requests it stops (a replayed nonce would be refused anyway), unless REPLAY_CYCLE is set
-- (unsigned requests: it sends them again from the first).

local threads, next_id = {}, 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local dir = os.getenv("REPLAY_DIR")
  cycle = os.getenv("REPLAY_CYCLE") ~= nil
  reqs, statuses, sent = {}, {}, 0
  for line in io.lines(dir .. "/" .. id .. ".req") do
    local method, path, key, sig, body =
      line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    reqs[#reqs + 1] = wrk.format(method, path, {
      ["Content-Type"] = "application/json",
      ["API-Key"] = key,
      ["API-Sign"] = sig,
    }, body)
  end
end

function request()
  sent = sent + 1
  if sent > #reqs and cycle then
    sent = 1
  elseif sent > #reqs then
    wrk.thread:stop()
    return reqs[#reqs]
  end
  return reqs[sent]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end
  for status, n in pairs(total) do
    io.write(string.format("STATUS %d %d\n", status, n))
  end
  io.write(string.format("LATENCY_P50_US %d\n", latency:percentile(50)))
  io.write(string.format("LATENCY_P99_US %d\n", latency:percentile(99)))
end
