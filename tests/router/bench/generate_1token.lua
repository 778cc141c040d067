-- wrk script: POST /generate asking for one greedy token (router overhead benchmark).
wrk.method = "POST"
wrk.body = '{"inputs":"Once upon a time","parameters":{"max_new_tokens":1}}'
wrk.headers["Content-Type"] = "application/json"

response = function(status, headers, body)
  if status ~= 200 then
    error("unexpected status " .. status .. ": " .. body)
  end
end
