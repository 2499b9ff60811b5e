#!/usr/bin/env python3
"""First screen latency for a user in 1,000 rooms and catch-up of a device 10,000 messages behind.
Usage: bench/first_screen_catchup.py PORT ADMIN_TOKEN   (server started with --send-rate 0)"""
import http.client, json, time, sys
port=int(sys.argv[1]); admin=sys.argv[2]
c=http.client.HTTPConnection("127.0.0.1",port)
def req(m,p,tok,body=None):
    c.request(m,p,json.dumps(body) if body is not None else None,{"Authorization":f"Bearer {tok}","Content-Type":"application/json"})
    r=c.getresponse(); d=r.read(); return r.status,(json.loads(d) if d else None)
n=f"fs{int(time.time())}"
req("POST","/v1/admin/users",admin,{"name":n}); _,d=req("POST",f"/v1/admin/users/{n}/devices",admin,{"name":"d"}); tok=d["token"]
req("POST","/v1/admin/users",admin,{"name":n+"b"}); _,d=req("POST",f"/v1/admin/users/{n}b/devices",admin,{"name":"d"}); tok2=d["token"]
t0=time.time()
rooms=[]
for i in range(1000):
    s,r=req("POST","/v1/rooms",tok,{"name":f"r{i}","members":[n+"b"]}); rooms.append(r["id"])
for i,room in enumerate(rooms):
    for k in range(3): req("POST",f"/v1/rooms/{room}/messages",tok2,{"client_msg_id":f"{i}-{k}","body":{"t":"hello"}})
print(f"setup {time.time()-t0:.1f}s")
# 2,000 requests: the p99 is the 20th slowest (of 300 it was the 3rd, which one slow
# moment of a shared machine decides).
N=2000
lat=[]
for i in range(N):
    t=time.perf_counter(); s,r=req("GET","/v1/conversations?limit=20&preview=3",tok); lat.append((time.perf_counter()-t)*1000)
    assert s==200 and len(r["conversations"])==20
lat.sort(); p50, p99 = lat[N // 2], lat[N * 99 // 100 - 1]
print(f"first screen (20 of 1000 rooms, 3 previews): p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {lat[-1]:.2f} ms")
first_screen={"p50_ms":round(p50,2),"p99_ms":round(p99,2),"max_ms":round(lat[-1],2)}
# catch-up: a device whose cursor is 10,000 messages (100 rooms x 100) behind
s,r=req("GET","/v1/conversations?limit=1",tok)
_,d=req("POST",f"/v1/admin/users/{n}/devices",admin,{"name":"late"}); late=d["token"]
cur=r["cursor"]
for i,room in enumerate(rooms[:100]):
    for k in range(100): req("POST",f"/v1/rooms/{room}/messages",tok2,{"client_msg_id":f"c{i}-{k}","body":{"t":"x"}})
t=time.perf_counter(); total=0; pages=0
while True:
    s,r=req("GET",f"/v1/sync?cursor={cur}&timeout=0&limit=1000",late); total+=len(r["events"]); pages+=1; cur=r["cursor"]
    if not r["has_more"]: break
ms=(time.perf_counter()-t)*1000
print(f"catch-up: {total} events in {pages} pages, {ms:.0f} ms")
print("RESULT "+json.dumps({"first_screen":first_screen,"catch_up":{"events":total,"pages":pages,"ms":round(ms)}}))
