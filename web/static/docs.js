// The API reference at /docs, drawn from the OpenAPI document the service
// serves (GET /openapi.json): the operations by tag, each with its
// parameters, request body and responses, then the shared schemas. A
// renderer of its own, some hundred lines, instead of a vendored one of
// megabytes: the document is this service's, and uses little of OpenAPI.
// Every text of the document goes in as text, never as HTML.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options', 'trace'];

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    e.append(...children.filter((c) => c !== null && c !== undefined && c !== ''));
    return e;
  }

  // inline renders `code` spans; the rest is text.
  function inline(text) {
    const out = [];
    String(text).split('`').forEach((part, i) => {
      if (part) out.push(i % 2 ? el('code', {}, part) : part);
    });
    return out;
  }

  // markdown renders the little of it the document's descriptions use:
  // paragraphs, "## " headings, "- " lists and `code`.
  function markdown(text) {
    const frag = document.createDocumentFragment();
    let list = null;
    let para = [];
    const flush = () => {
      if (para.length) frag.append(el('p', {}, ...inline(para.join(' '))));
      para = [];
    };
    for (const line of String(text || '').split('\n')) {
      const t = line.trim();
      if (t.startsWith('- ')) {
        flush();
        if (!list) frag.append((list = el('ul')));
        list.append(el('li', {}, ...inline(t.slice(2))));
        continue;
      }
      list = null;
      if (t.startsWith('#')) {
        flush();
        frag.append(el('h3', {}, ...inline(t.replace(/^#+\s*/, ''))));
      } else if (!t) flush();
      else para.push(t);
    }
    flush();
    return frag;
  }

  let doc = null;

  // resolve follows a local $ref (#/components/...).
  function resolve(v) {
    let seen = 0;
    while (v && v.$ref && seen++ < 10) {
      v = v.$ref.slice(2).split('/').reduce((o, k) => (o ? o[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), doc);
    }
    return v || {};
  }

  function refName(ref) {
    return ref.split('/').pop();
  }

  // typeOf describes a schema in a line: a link for a named schema,
  // its type, format, enum, items, and the alternatives of anyOf/oneOf.
  function typeOf(s) {
    if (!s) return ['any'];
    if (s.$ref) return [el('a', { href: '#schema-' + refName(s.$ref) }, refName(s.$ref))];
    const out = [];
    const join = (list, word) => list.forEach((x, i) => out.push(...(i ? [` ${word} `] : []), ...typeOf(x)));
    if (s.allOf) join(s.allOf, 'and');
    else if (s.anyOf || s.oneOf) join(s.anyOf || s.oneOf, 'or');
    else if (s.type === 'array' || (Array.isArray(s.type) && s.type.includes('array'))) out.push('array of ', ...typeOf(s.items));
    else if (s.type) out.push([].concat(s.type).join(' or '));
    else if (s.properties) out.push('object');
    if (s.format) out.push(` (${s.format})`);
    if (s.enum) out.push(': ', s.enum.map((v) => JSON.stringify(v)).join(', '));
    if (s.default !== undefined) out.push(`, default ${JSON.stringify(s.default)}`);
    if (s.minimum !== undefined || s.maximum !== undefined) {
      out.push(`, ${s.minimum ?? '…'} to ${s.maximum ?? '…'}`);
    }
    return out.length ? out : ['any'];
  }

  // schema renders a schema: its type, description, and the properties
  // of an object (nested inline objects too, to a depth).
  function schema(s, depth = 0) {
    const box = el('div');
    if (!s) return box;
    box.append(el('p', {}, el('span', { class: 'type' }, ...typeOf(s))));
    if (s.description && depth > 0) box.append(markdown(s.description));
    const props = s.properties || (s.items && !s.items.$ref && s.items.properties);
    if (props && depth < 4) {
      const required = new Set(s.required || (s.items && s.items.required) || []);
      const ul = el('ul', { class: 'schema' });
      for (const [name, p] of Object.entries(props)) {
        const li = el('li', {}, el('code', {}, name), ' ', el('span', { class: 'type' }, ...typeOf(p)),
          required.has(name) ? el('span', { class: 'req' }, ' required') : null);
        if (p.description) li.append(markdown(p.description));
        if (!p.$ref && (p.properties || (p.items && p.items.properties))) li.append(schema(Object.assign({}, p, { description: '' }), depth + 1));
        ul.append(li);
      }
      box.append(ul);
    }
    return box;
  }

  function content(c) {
    const frag = document.createDocumentFragment();
    for (const [type, media] of Object.entries(c || {})) {
      frag.append(el('p', {}, el('code', {}, type)), schema(media.schema, 0));
    }
    return frag;
  }

  function operation(path, method, op, shared) {
    const id = 'op-' + (op.operationId || `${method}-${path}`.replace(/[^a-z0-9]+/gi, '-'));
    const sec = el('section', { class: 'op', id, 'aria-labelledby': id + '-h' });
    sec.append(el('h3', { id: id + '-h' }, el('span', { class: `method m-${method}` }, method.toUpperCase()), ' ',
      el('code', { class: 'path' }, path), ' ', op.summary || ''));
    if (op.security && op.security.length) {
      sec.append(el('p', {}, el('strong', {}, 'Authorization: '), 'a bearer token' + (op['x-required-role'] ? ` with role ${op['x-required-role']}` : '') + '.'));
    }
    if (op.description) sec.append(markdown(op.description));
    const params = [...(shared || []), ...(op.parameters || [])].map(resolve);
    if (params.length) {
      sec.append(el('h4', {}, 'Parameters'), el('div', { class: 'scroll' }, el('table', {},
        el('thead', {}, el('tr', {}, ...['Name', 'In', 'Type', 'Description'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, ...params.map((p) => el('tr', {}, el('th', { scope: 'row' }, el('code', {}, p.name), p.required ? el('span', { class: 'req' }, ' required') : null),
          el('td', {}, p.in), el('td', {}, ...typeOf(p.schema)), el('td', {}, markdown(p.description))))))));
    }
    if (op.requestBody) {
      const body = resolve(op.requestBody);
      sec.append(el('h4', {}, 'Request body' + (body.required ? '' : ' (optional)')));
      if (body.description) sec.append(markdown(body.description));
      sec.append(content(body.content));
    }
    sec.append(el('h4', {}, 'Responses'));
    const dl = el('dl');
    for (const [status, r] of Object.entries(op.responses || {})) {
      const res = resolve(r);
      const dd = el('dd', {}, markdown(res.description));
      if (res.headers) dd.append(el('p', {}, 'Headers: ', ...Object.keys(res.headers).flatMap((h, i) => [i ? ', ' : '', el('code', {}, h)])));
      dd.append(content(res.content));
      dl.append(el('dt', {}, el('strong', {}, status)), dd);
    }
    sec.append(dl);
    return sec;
  }

  function render() {
    const info = doc.info || {};
    document.title = `${info.title || 'API'} reference`;
    $('title').textContent = `${info.title || 'API'} ${info.version ? 'v' + info.version : ''}`.trim();
    const out = $('reference');
    if (info.summary) out.append(el('p', {}, ...inline(info.summary)));
    // Operations by tag, in the document's tag order, then any untagged.
    const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const name = (op.tags && op.tags[0]) || 'other';
        if (!byTag.has(name)) byTag.set(name, { tag: { name }, ops: [] });
        byTag.get(name).ops.push([path, method, op, item.parameters]);
      }
    }
    const toc = el('ul', { class: 'toc' });
    for (const { tag, ops } of byTag.values()) {
      if (!ops.length) continue;
      toc.append(el('li', {}, el('a', { href: '#tag-' + tag.name }, tag.name), ` (${ops.length})`));
    }
    toc.append(el('li', {}, el('a', { href: '#schemas' }, 'Schemas')));
    out.append(el('nav', { 'aria-label': 'Contents' }, el('h2', {}, 'Contents'), toc));
    if (info.description) {
      out.append(el('details', {}, el('summary', {}, 'About this API: conventions, authentication, limits'), markdown(info.description)));
    }
    for (const { tag, ops } of byTag.values()) {
      if (!ops.length) continue;
      const sec = el('section', { id: 'tag-' + tag.name, 'aria-labelledby': 'tag-' + tag.name + '-h' },
        el('h2', { id: 'tag-' + tag.name + '-h' }, tag.name));
      if (tag.description) sec.append(markdown(tag.description));
      for (const [path, method, op, shared] of ops) sec.append(operation(path, method, op, shared));
      out.append(sec);
    }
    const schemas = el('section', { id: 'schemas', 'aria-labelledby': 'schemas-h' }, el('h2', { id: 'schemas-h' }, 'Schemas'));
    for (const [name, s] of Object.entries((doc.components && doc.components.schemas) || {})) {
      const id = 'schema-' + name;
      const sec = el('section', { class: 'op', id, 'aria-labelledby': id + '-h' }, el('h3', { id: id + '-h' }, el('code', {}, name)));
      if (s.description) sec.append(markdown(s.description));
      sec.append(schema(s, 0));
      schemas.append(sec);
    }
    out.append(schemas);
    // The fragment the visitor came for exists only now.
    if (location.hash) {
      const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
      if (target) target.scrollIntoView();
    }
  }

  async function load() {
    try {
      const res = await fetch('/openapi.json', { headers: { Accept: 'application/json' } });
      if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`);
      doc = await res.json();
      render();
      $('status').textContent = '';
      $('status').hidden = true;
    } catch (e) {
      $('status').textContent = `The reference could not be drawn (${e.message}); the document is at /openapi.json.`;
    }
  }

  load();
})();
