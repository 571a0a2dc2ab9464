#include "worker/internal.h"

/*
 * The built-in dashboard: one static page that polls the REST API every two seconds (the
 * browser revalidates with the ETag, so an idle cluster costs 304s) and shows the active and
 * the recently failed jobs. A bearer token, when the listener needs one, is kept in the
 * browser's localStorage and sent with each call; the page itself is public and holds no data.
 */
static const char page[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>imgpulld</title>\n<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}\n"
    "header{background:#1d3557;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:center}\n"
    "header h1{font-size:18px;margin:0;flex:1}header input{width:220px}\n"
    "main{padding:12px 20px}h2{font-size:15px;margin:18px 0 6px}\n"
    "table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}\n"
    "th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top}\n"
    "th{background:#eef1f4;font-weight:600}td.mono{font-family:ui-monospace,monospace;font-size:12px}\n"
    ".s{padding:1px 6px;border-radius:8px;font-size:12px}.pending{background:#e6e6e6}.pulling{background:#cfe3ff}\n"
    ".failed{background:#ffd6d6}.succeeded{background:#d4f5d9}.cancelled{background:#eee}\n"
    "progress{width:110px}#status{font-size:12px;opacity:.85}.empty{color:#777;padding:8px}\n"
    "</style></head><body>\n<header><h1>imgpulld &mdash; image pulls</h1><span id=\"status\">loading&hellip;</span>\n"
    "<input id=\"token\" type=\"password\" placeholder=\"bearer token (if required)\"></header>\n<main>\n"
    "<h2>Active jobs</h2><table><thead><tr><th>Job</th><th>Image</th><th>State</th><th>Nodes</th><th>Created</th>"
    "<th>Problem</th></tr></thead><tbody id=\"active\"></tbody></table>\n"
    "<h2>Recently failed</h2><table><thead><tr><th>Job</th><th>Image</th><th>State</th><th>Nodes</th>"
    "<th>Finished</th><th>Problem</th></tr></thead><tbody id=\"failed\"></tbody></table>\n</main>\n<script>\n"
    "'use strict';\n"
    "const tok=document.getElementById('token');tok.value=localStorage.getItem('imgpulld-token')||'';\n"
    "tok.addEventListener('change',()=>{localStorage.setItem('imgpulld-token',tok.value);refresh();});\n"
    "function cell(tr,text,cls){const td=document.createElement('td');td.textContent=text==null?'':String(text);"
    "if(cls)td.className=cls;tr.appendChild(td);return td;}\n"
    "function when(t){return t?new Date(t).toLocaleString():'';}\n"
    "function render(id,jobs,timeKey){const tb=document.getElementById(id);tb.replaceChildren();\n"
    " if(!jobs.length){const tr=tb.insertRow();const td=cell(tr,'none','empty');td.colSpan=6;return;}\n"
    " for(const j of jobs){const tr=tb.insertRow();cell(tr,j.id,'mono');cell(tr,j.image,'mono');\n"
    "  const st=cell(tr,'');const b=document.createElement('span');b.className='s '+j.state;b.textContent=j.state;"
    "st.appendChild(b);\n"
    "  const n=j.nodes||{};const c=cell(tr,'');const p=document.createElement('progress');p.max=n.desired||1;"
    "p.value=n.succeeded||0;c.appendChild(p);\n"
    "  c.appendChild(document.createTextNode(' '+(n.succeeded||0)+'/'+(n.desired||0)+(n.failed?' ('+n.failed+"
    "' failed)':'')));\n"
    "  cell(tr,when(j[timeKey]));cell(tr,j.error?j.error.reason+(j.error.message?': '+j.error.message:''):'');}}\n"
    "async function get(path){const h={};if(tok.value)h['Authorization']='Bearer '+tok.value;\n"
    " const r=await fetch(path,{headers:h,cache:'no-cache'});const body=await r.json();\n"
    " if(!r.ok)throw new Error(body.error?body.error.message:r.statusText);return body;}\n"
    "async function refresh(){try{const [a,f]=await Promise.all([get('/api/v1/images/pull-active'),"
    "get('/api/v1/images/pull-failed?limit=20')]);\n"
    " render('active',a.jobs,'created_at');render('failed',f.jobs,'finished_at');\n"
    " document.getElementById('status').textContent='generation '+a.generation+' \\u00b7 '+"
    "new Date().toLocaleTimeString();}\n"
    " catch(e){document.getElementById('status').textContent='error: '+e.message;}}\n"
    "refresh();setInterval(refresh,2000);\n</script></body></html>\n";

void ipd_worker_get_dashboard(ipd_worker_t *w, h2o_req_t *req)
{
    (void)w;
    h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0,
                          H2O_STRLIT("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                     "connect-src 'self'"),
                          1);
    h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          H2O_STRLIT("nosniff"), 1);
    ipd_worker_send_text(req, 200, "text/html; charset=utf-8", page, sizeof(page) - 1);
}
