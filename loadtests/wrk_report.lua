-- wrk script for `loadtests/bench.py`: the request to send (from BENCH_* variables) and one JSON result line.
--   BENCH_METHOD, BENCH_BODY: a static request other than GET (Content-Type: application/json).
--   BENCH_PATCH_FILE: lines "<task id> <version>"; each request PATCHes the next task in turn with
--     If-Match: "<version>" and a new title, expecting the version to grow by one per request.
--     With many more tasks than connections, a task's previous PATCH has been answered before its next.

local method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
local patch_file = os.getenv("BENCH_PATCH_FILE")

if method then
   wrk.method = method
end
if body then
   wrk.body = body
   wrk.headers["Content-Type"] = "application/json"
end

if patch_file then
   local targets = {}
   for line in io.lines(patch_file) do
      local id, version = line:match("^(%S+)%s+(%d+)$")
      if id then
         targets[#targets + 1] = { id = id, version = tonumber(version) }
      end
   end
   local next_index = 0
   -- wrk calls request() once before the run to check what it returns, and never sends that one: it must not
   -- count as a PATCH (the task's next If-Match would be one ahead, a 412 each time the turn comes round).
   local checked = false

   local function patch(target, version)
      local headers = {}
      for name, value in pairs(wrk.headers) do
         headers[name] = value
      end
      headers["Content-Type"] = "application/json"
      headers["If-Match"] = '"' .. version .. '"'
      local title = '{"title":"bench title ' .. (version + 1) .. '"}'
      return wrk.format("PATCH", "/api/v1/tasks/" .. target.id, headers, title)
   end

   request = function()
      if not checked then
         checked = true
         return patch(targets[1], targets[1].version)
      end
      next_index = next_index % #targets + 1
      local target = targets[next_index]
      target.version = target.version + 1
      return patch(target, target.version - 1)
   end
end

done = function(summary, latency, requests)
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,'
         .. '"status_errors":%d,"timeouts":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
      summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
      summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(95),
      latency:percentile(99), latency.max))
end
