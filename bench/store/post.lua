-- wrk script: one small JSON webhook per request, to the demo source.
wrk.method = "POST"
wrk.body = '{"channel":"bench","type":"tick","payload":"a small webhook body, like most"}'
wrk.headers["Content-Type"] = "application/json"

local non202 = 0
response = function(status, headers, body)
  if status ~= 202 then non202 = non202 + 1 end
end
