-- wrk script for `npm run bench:issue`: POST issue requests with a unique callId each and
-- 1 KB input and output bodies, cycling over the merchants' API keys in BENCH_TOKENS.
local tokens = {}
for t in string.gmatch(os.getenv("BENCH_TOKENS") or "none", "[^,]+") do tokens[#tokens + 1] = t end
local tag = os.getenv("BENCH_TAG") or "run"
local started = 0
function setup(thread)
  started = started + 1
  thread:set("tid", started)
end

local function kilobyte(seed)
  local items = {}
  for i = 0, 15 do
    items[#items + 1] = string.format('{"sku":"SKU-%d-%s","qty":%d,"note":"%s"}', i, seed, i, string.rep("x", 30))
  end
  return '{"seed":"' .. seed .. '","items":[' .. table.concat(items, ",") .. ']}'
end

local counter = 0
function request()
  counter = counter + 1
  local id = tag .. "-" .. tostring(tid) .. "-" .. counter
  local body = '{"callId":"' .. id .. '","agentId":"agent-' .. (counter % 8) ..
    '","bucket":"checkout","tool":"complete_checkout","orderId":"order-' .. (counter % 100) ..
    '","input":' .. kilobyte("in-" .. counter) .. ',"output":' .. kilobyte("out-" .. counter) .. '}'
  return wrk.format("POST", "/api/v1/trust/receipts", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1],
  }, body)
end
