-- A realistic traffic mix for wrk: user agents, referrers, consent states, client IPs, sites.
--
--   wrk -s bench/mix.lua http://127.0.0.1:8080 -- pixel         GET /b.gif?...
--   wrk -s bench/mix.lua http://127.0.0.1:8080 -- beacon        POST /b with a JSON body
--   wrk -s bench/mix.lua http://127.0.0.1:8080 -- open FILE     GET /o/{token}.gif, one token a line
--
-- Requests are built once in init() and rotated, so wrk spends its time sending, not in Lua.
-- BENCH_DELAY_MS=N in the environment paces each connection (N ms between its requests).

local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
if pace > 0 then
  function delay()
    return pace
  end
end

local user_agents = {
  -- desktop
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
  "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36 OPR/115.0.0.0",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
  -- mobile
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
  "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (Linux; Android 13; 2201117TG) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 Mobile Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.19.0",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 356.0.0.25.109",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 YJApp-IOS jp.co.yahoo.ipn.appli/4.62.1",
  "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
  "Mozilla/5.0 (Linux; Android 12; SO-51B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Mobile Safari/537.36",
  -- tablet
  "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/130.3.3 like Chrome/130.0.6723.102 Safari/537.36",
  -- bots and tools
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
  "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
  "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
  "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
  "curl/7.88.1",
  "python-requests/2.32.3",
}

-- E-mail clients and image proxies that fetch open pixels.
local mail_agents = {
  "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
  "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
  "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0",
}

local search_terms = {
  "東京 ホテル 安い",
  "ランニングシューズ おすすめ",
  "格安SIM 比較",
  "確定申告 やり方",
  "京都 紅葉 見頃",
  "ノートパソコン セール",
  "ラーメン 新宿",
  "英会話 オンライン",
}

local sites = { "shop", "shop", "shop", "blog", "news", "support" }
local hosts = {
  shop = "https://shop.example.jp",
  blog = "https://blog.example.jp",
  news = "https://news.example.jp",
  support = "https://support.example.jp",
}
local paths = {
  "/",
  "/products/1234",
  "/products/5678?color=black&size=27.5",
  "/category/shoes",
  "/cart",
  "/checkout/complete",
  "/articles/2026/11/autumn-sale",
  "/help/returns",
  "/search?q=%E3%82%B7%E3%83%A5%E3%83%BC%E3%82%BA",
}
local languages = {
  "ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7",
  "ja,en-US;q=0.9,en;q=0.8",
  "en-US,en;q=0.9",
  "zh-CN,zh;q=0.9,ja;q=0.8",
  "ko-KR,ko;q=0.9",
  "de-DE,de;q=0.9,en;q=0.8",
}
local screens = { { 1920, 1080 }, { 1440, 900 }, { 390, 844 }, { 412, 915 }, { 820, 1180 } }
local events = { "pageview", "pageview", "pageview", "pageview", "signup", "add_to_cart", "video:play" }
local consents = { nil, nil, "statistics", "statistics", "statistics,personalization" }

local function enc(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local function pick(list)
  return list[math.random(#list)]
end

local function referrer()
  local roll = math.random(100)
  local term = pick(search_terms)
  if roll <= 25 then
    return "https://www.google.co.jp/"
  elseif roll <= 35 then
    return "https://www.google.com/search?q=" .. enc(term)
  elseif roll <= 55 then
    return "https://search.yahoo.co.jp/search?p=" .. enc(term) .. "&ei=UTF-8"
  elseif roll <= 60 then
    return "https://www.bing.com/search?q=" .. enc(term)
  elseif roll <= 65 then
    return "https://t.co/Ab12Cd34Ef"
  elseif roll <= 70 then
    return "https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example.jp%2F"
  elseif roll <= 73 then
    return "https://www.instagram.com/"
  elseif roll <= 76 then
    return "https://line.me/R/"
  elseif roll <= 82 then
    return "https://shop.example.jp/category/shoes"
  end
  return "" -- direct
end

local function client_ip()
  local roll = math.random(100)
  local n = math.random(1, 254)
  if roll <= 45 then
    return "203.0.113." .. n -- JP, Tokyo, AS64500
  elseif roll <= 55 then
    return "198.51.100." .. n -- US
  elseif roll <= 60 then
    return "192.0.2." .. n -- ASN only
  elseif roll <= 65 then
    return "2001:db8::" .. string.format("%x", n) -- DE, Berlin
  elseif roll <= 80 then
    return "100.64." .. math.random(0, 255) .. "." .. n .. ", 10.0.0." .. n -- nowhere, proxied
  end
  return math.random(1, 223) .. "." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. n
end

local function visitor_cookie()
  return string.format("ashiato_vid=bench%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

local function browser_headers(site, page)
  local headers = {
    ["User-Agent"] = pick(user_agents),
    ["Accept-Language"] = pick(languages),
    ["X-Forwarded-For"] = client_ip(),
    ["Referer"] = page,
  }
  local roll = math.random(100)
  if roll <= 3 then
    headers["Sec-GPC"] = "1"
  elseif roll <= 5 then
    headers["DNT"] = "1"
  end
  return headers
end

local function pixel_request()
  local site = pick(sites)
  local page = hosts[site] .. pick(paths)
  local screen = pick(screens)
  local consent = pick(consents)
  local query = "/b.gif?s=" .. site .. "&u=" .. enc(page) .. "&r=" .. enc(referrer())
    .. "&e=" .. enc(pick(events)) .. "&l=ja&sw=" .. screen[1] .. "&sh=" .. screen[2]
  local headers = browser_headers(site, page)
  if consent then
    query = query .. "&c=" .. enc(consent)
    if consent:find("personalization") and math.random(2) == 1 then
      headers["Cookie"] = visitor_cookie()
    end
  end
  return wrk.format("GET", query, headers)
end

local function beacon_request()
  local site = pick(sites)
  local page = hosts[site] .. pick(paths)
  local screen = pick(screens)
  local consent = pick(consents)
  local headers = browser_headers(site, page)
  headers["Content-Type"] = "text/plain;charset=UTF-8"
  headers["Origin"] = hosts[site]
  local fields = {
    '"s":"' .. site .. '"',
    '"u":"' .. page .. '"',
    '"r":"' .. referrer() .. '"',
    '"e":"' .. pick(events) .. '"',
    '"l":"ja"',
    '"sw":' .. screen[1],
    '"sh":' .. screen[2],
    '"p":{"plan":"pro","items":' .. math.random(1, 5) .. ',"q":"' .. pick(search_terms) .. '"}',
  }
  if consent then
    fields[#fields + 1] = '"c":"' .. consent .. '"'
    if consent:find("personalization") and math.random(2) == 1 then
      headers["Cookie"] = visitor_cookie()
    end
  end
  return wrk.format("POST", "/b", headers, "{" .. table.concat(fields, ",") .. "}")
end

local function open_request(token)
  local headers = {
    ["User-Agent"] = pick(mail_agents),
    ["X-Forwarded-For"] = client_ip(),
    ["Accept"] = "image/avif,image/webp,image/png,image/*;q=0.8",
  }
  return wrk.format("GET", "/o/" .. token .. ".gif", headers)
end

local requests = {}
local position = 0

function init(args)
  local mode = args[1] or "pixel"
  math.randomseed(20261101)
  if mode == "open" then
    local tokens = {}
    for line in io.lines(args[2]) do
      if #line > 0 then
        tokens[#tokens + 1] = line
      end
    end
    for i = 1, #tokens do
      requests[i] = open_request(tokens[i])
    end
  else
    local build = mode == "beacon" and beacon_request or pixel_request
    for i = 1, 2000 do
      requests[i] = build()
    end
  end
  if #requests == 0 then
    error("mix.lua: no requests for mode " .. mode)
  end
end

function request()
  position = position % #requests + 1
  return requests[position]
end
