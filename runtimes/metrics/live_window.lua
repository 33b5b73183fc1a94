-- The live window of some assets, summed inside Redis (runtimes/metrics/live.py, live_rates).
-- Sum each asset's per-second buckets over the window; Redis 6.2 Lua (5.1).
-- KEYS: per asset, for each second of the window in ascending order, the bucket hash then
--       the latency list (2 * ARGV[1] keys per asset, computed by the caller).
-- ARGV[1]: seconds in the window.
-- Reply: per asset {p50, p95, iface...} where each iface is {name, {field, sum, ...}, p50, p95};
--        percentiles are nearest-rank over the latency samples, nil when there are none.
--        Numbers are %.17g strings, so Python reads back the very doubles summed here.
local per_asset = 2 * tonumber(ARGV[1])
local function num(x) return string.format('%.17g', x) end
local function pct(sorted, p)
  local n = #sorted
  if n == 0 then return false end
  local rank = math.ceil(p / 100.0 * n)
  if rank < 1 then rank = 1 end
  return num(sorted[rank])
end
local function split(text)  -- like Python's text.rpartition('|')
  local head, tail = string.match(text, '^(.*)|(.-)$')
  if head == nil then return '', text end
  return head, tail
end
local field_parts = {}  -- split() memo for hash fields, which repeat in every second
local function split_field(text)
  local known = field_parts[text]
  if known == nil then
    known = {split(text)}
    field_parts[text] = known
  end
  return known[1], known[2]
end
local out = {}
for base = 0, #KEYS - 1, per_asset do
  local names, sums, fields, samples, all = {}, {}, {}, {}, {}
  local function iface(name)
    if sums[name] == nil then
      names[#names + 1] = name
      sums[name], fields[name], samples[name] = {}, {}, {}
    end
    return name
  end
  for i = base + 1, base + per_asset, 2 do
    local bucket = redis.call('HGETALL', KEYS[i])
    for j = 1, #bucket, 2 do
      local name, field = split_field(bucket[j])
      local x = tonumber(bucket[j + 1])
      if x ~= nil then
        local acc = sums[iface(name)]
        if acc[field] == nil then
          acc[field] = 0
          fields[name][#fields[name] + 1] = field
        end
        acc[field] = acc[field] + x
      end
    end
    local lat = redis.call('LRANGE', KEYS[i + 1], 0, -1)
    for j = 1, #lat do
      local name, ms = split(lat[j])
      local x = tonumber(ms)
      if x ~= nil then
        local list = samples[iface(name)]
        list[#list + 1] = x
        all[#all + 1] = x
      end
    end
  end
  table.sort(all)
  local reply = {pct(all, 50), pct(all, 95)}
  for _, name in ipairs(names) do
    local flat = {}
    for _, field in ipairs(fields[name]) do
      flat[#flat + 1] = field
      flat[#flat + 1] = num(sums[name][field])
    end
    table.sort(samples[name])
    reply[#reply + 1] = {name, flat, pct(samples[name], 50), pct(samples[name], 95)}
  end
  out[#out + 1] = reply
end
return out
