#!/usr/bin/env python3
"""Catch-up over large messages (issue 13 items 4 and 8): a user 10,000 messages of ~4 KB
behind in ROOMS rooms; times GET /v1/sync?per_room_limit=20 from the old cursor (median of
RUNS) and a plain limit=1000 page, and reports page sizes.
Usage: bench/catchup_large.py PORT ADMIN_TOKEN [ROOMS] [RUNS]   (server with --send-rate 0)"""
import http.client, json, time, sys, statistics
port=int(sys.argv[1]); admin=sys.argv[2]
rooms_n=int(sys.argv[3]) if len(sys.argv)>3 else 10; runs=int(sys.argv[4]) if len(sys.argv)>4 else 30
c=http.client.HTTPConnection("127.0.0.1",port)
def req(m,p,tok,body=None):
    c.request(m,p,json.dumps(body) if body is not None else None,{"Authorization":f"Bearer {tok}","Content-Type":"application/json"})
    r=c.getresponse(); d=r.read(); return r.status,d
def jreq(*a):
    s,d=req(*a); return s,(json.loads(d) if d else None)
n=f"cl{int(time.time())}"
jreq("POST","/v1/admin/users",admin,{"name":n}); _,d=jreq("POST",f"/v1/admin/users/{n}/devices",admin,{"name":"d"}); tok=d["token"]
jreq("POST","/v1/admin/users",admin,{"name":n+"b"}); _,d=jreq("POST",f"/v1/admin/users/{n}b/devices",admin,{"name":"d"}); tok2=d["token"]
rooms=[jreq("POST","/v1/rooms",tok2,{"name":f"r{i}","members":[n]})[1]["id"] for i in range(rooms_n)]
_,r=jreq("GET","/v1/conversations?limit=1",tok); cur=r["cursor"]
t0=time.time(); pad="x"*4000
for k in range(10000):
    s,_=req("POST",f"/v1/rooms/{rooms[k%rooms_n]}/messages",tok2,{"client_msg_id":f"m{k}","body":{"t":pad}})
    assert s==201
print(f"setup: 10000 messages of 4 KB in {rooms_n} rooms, {time.time()-t0:.1f}s")
def timed(path):
    lat=[]; size=0; ev=0
    for _ in range(runs):
        t=time.perf_counter(); s,d=req("GET",path,tok); lat.append((time.perf_counter()-t)*1000)
        assert s==200; size=len(d); ev=len(json.loads(d)["events"])
    return statistics.median(lat), min(lat), max(lat), size, ev
for path in [f"/v1/sync?cursor={cur}&timeout=0&per_room_limit=20", f"/v1/sync?cursor={cur}&timeout=0&limit=1000"]:
    med,lo,hi,size,ev=timed(path)
    print(f"{path.split('&',2)[-1]:<20} median {med:.2f} ms (min {lo:.2f}, max {hi:.2f}) over {runs}; {ev} events, {size} bytes")
