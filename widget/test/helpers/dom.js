// A small fake DOM: just what the widget's UI modules call (element building,
// attributes, dataset, classList, tree edits, simple selectors, events,
// shadow roots), so node:test can run the chat without a browser or a DOM
// package. `installDom()` puts document, window, matchMedia and
// localStorage on globalThis and returns a function that takes them off.
// No layout: scroll sizes are 0, focus only moves activeElement.

const camelToData = (name) => `data-${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

class Node {
  constructor() {
    this.parentNode = null;
    this.childNodes = [];
  }

  get firstChild() {
    return this.childNodes[0] || null;
  }

  get nextSibling() {
    if (!this.parentNode) return null;
    const list = this.parentNode.childNodes;
    return list[list.indexOf(this) + 1] || null;
  }

  get children() {
    return this.childNodes.filter((n) => n instanceof Element);
  }

  get textContent() {
    return this.childNodes.map((n) => n.textContent).join('');
  }

  set textContent(value) {
    for (const n of this.childNodes) n.parentNode = null;
    this.childNodes = [];
    if (value !== '' && value != null) this.append(String(value));
  }

  #adopt(items) {
    return items.map((item) => {
      const node = item instanceof Node ? item : new Text(String(item));
      if (node.parentNode) node.remove();
      node.parentNode = this;
      return node;
    });
  }

  append(...items) {
    this.childNodes.push(...this.#adopt(items));
  }

  prepend(...items) {
    this.childNodes.unshift(...this.#adopt(items));
  }

  insertAt(index, items) {
    const nodes = this.#adopt(items);
    this.childNodes.splice(index, 0, ...nodes);
  }

  after(...items) {
    const parent = this.parentNode;
    const nodes = items.filter((n) => n !== this);
    for (const n of nodes) if (n instanceof Node && n.parentNode) n.remove();
    parent.insertAt(parent.childNodes.indexOf(this) + 1, nodes);
  }

  replaceWith(...items) {
    const parent = this.parentNode;
    if (!parent) return;
    const at = parent.childNodes.indexOf(this);
    this.remove();
    parent.insertAt(at, items);
  }

  remove() {
    if (!this.parentNode) return;
    const list = this.parentNode.childNodes;
    list.splice(list.indexOf(this), 1);
    this.parentNode = null;
  }

  /** Every element below this node, in document order. */
  *descendants() {
    for (const n of this.childNodes) {
      if (n instanceof Element) {
        yield n;
        yield* n.descendants();
      }
    }
  }

  querySelectorAll(selector) {
    const alternatives = selector.split(',').map((s) => s.trim().split(/\s+/));
    return [...this.descendants()].filter((el) => alternatives.some((chain) => el.matchesChain(chain, this)));
  }

  querySelector(selector) {
    return this.querySelectorAll(selector)[0] || null;
  }
}

class Text extends Node {
  constructor(data) {
    super();
    this.data = data;
  }

  get textContent() {
    return this.data;
  }

  set textContent(value) {
    this.data = String(value);
  }
}

class ClassList {
  constructor(el) {
    this.el = el;
  }

  get #set() {
    return new Set((this.el.getAttribute('class') || '').split(/\s+/).filter(Boolean));
  }

  #write(set) {
    this.el.setAttribute('class', [...set].join(' '));
  }

  contains(name) {
    return this.#set.has(name);
  }

  add(...names) {
    const set = this.#set;
    for (const n of names) set.add(n);
    this.#write(set);
  }

  remove(...names) {
    const set = this.#set;
    for (const n of names) set.delete(n);
    this.#write(set);
  }

  toggle(name, force) {
    const on = force === undefined ? !this.contains(name) : Boolean(force);
    if (on) this.add(name);
    else this.remove(name);
    return on;
  }
}

// One simple selector: tag, #id, .class, [attr], [attr="value"], :not(:disabled).
function matchesSimple(el, simple) {
  const parts = simple.match(/:not\(:disabled\)|\[[^\]]+\]|[.#]?[\w-]+|\*/g) || [];
  return parts.every((p) => {
    if (p === '*') return true;
    if (p === ':not(:disabled)') return !el.hasAttribute('disabled');
    if (p[0] === '.') return el.classList.contains(p.slice(1));
    if (p[0] === '#') return el.getAttribute('id') === p.slice(1);
    if (p[0] === '[') {
      const [, name, value] = p.match(/^\[([\w-]+)(?:="?([^"\]]*)"?)?\]$/);
      return value === undefined ? el.hasAttribute(name) : el.getAttribute(name) === value;
    }
    return el.tagName === p.toUpperCase();
  });
}

class Element extends Node {
  constructor(tag, ownerDocument) {
    super();
    this.tagName = tag.toUpperCase();
    this.ownerDocument = ownerDocument;
    this.attributes = new Map();
    this.listeners = new Map();
    this.classList = new ClassList(this);
    this.style = { setProperty() {} };
    this.value = '';
    this.scrollTop = 0;
    this.scrollHeight = 0;
    this.clientHeight = 0;
    const el = this;
    this.dataset = new Proxy({}, {
      get: (_, key) => (typeof key === 'string' ? el.getAttribute(camelToData(key)) ?? undefined : undefined),
      set: (_, key, value) => {
        el.setAttribute(camelToData(key), value);
        return true;
      },
      deleteProperty: (_, key) => {
        el.removeAttribute(camelToData(key));
        return true;
      },
      has: (_, key) => el.hasAttribute(camelToData(key)),
    });
  }

  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }

  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }

  removeAttribute(name) {
    this.attributes.delete(name);
  }

  hasAttribute(name) {
    return this.attributes.has(name);
  }

  get id() {
    return this.getAttribute('id') || '';
  }

  set id(value) {
    this.setAttribute('id', value);
  }

  get className() {
    return this.getAttribute('class') || '';
  }

  set className(value) {
    this.setAttribute('class', value);
  }

  get hidden() {
    return this.hasAttribute('hidden');
  }

  set hidden(value) {
    if (value) this.setAttribute('hidden', '');
    else this.removeAttribute('hidden');
  }

  get disabled() {
    return this.hasAttribute('disabled');
  }

  set disabled(value) {
    if (value) this.setAttribute('disabled', '');
    else this.removeAttribute('disabled');
  }

  matchesChain(chain, scope) {
    if (!matchesSimple(this, chain[chain.length - 1])) return false;
    let rest = chain.slice(0, -1);
    for (let up = this.parentNode; rest.length && up && up !== scope; up = up.parentNode) {
      if (up instanceof Element && matchesSimple(up, rest[rest.length - 1])) rest = rest.slice(0, -1);
    }
    return rest.length === 0;
  }

  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }

  removeEventListener(type, fn) {
    const list = this.listeners.get(type) || [];
    if (list.includes(fn)) list.splice(list.indexOf(fn), 1);
  }

  dispatchEvent(event) {
    for (const fn of [...(this.listeners.get(event.type) || [])]) fn(event);
    return true;
  }

  click() {
    this.dispatchEvent({ type: 'click', target: this, preventDefault() {}, stopPropagation() {} });
  }

  focus() {
    let root = this;
    while (root.parentNode) root = root.parentNode;
    root.activeElement = this;
    if (this.ownerDocument) this.ownerDocument.activeElement = this;
  }

  attachShadow() {
    this.shadowRoot = new ShadowRoot(this);
    return this.shadowRoot;
  }
}

class ShadowRoot extends Node {
  constructor(host) {
    super();
    this.host = host;
    this.activeElement = null;
  }
}

export function createDocument() {
  const doc = {
    listeners: new Map(),
    activeElement: null,
    currentScript: null,
    visibilityState: 'visible',
    createElement: (tag) => new Element(tag, doc),
    createElementNS: (_, tag) => new Element(tag, doc),
    createTextNode: (text) => new Text(text),
    addEventListener(type, fn) {
      if (!doc.listeners.has(type)) doc.listeners.set(type, []);
      doc.listeners.get(type).push(fn);
    },
    removeEventListener() {},
  };
  doc.head = new Element('head', doc);
  doc.body = new Element('body', doc);
  return doc;
}

export function createStorage() {
  const map = new Map();
  return {
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => map.set(k, String(v)),
    removeItem: (k) => map.delete(k),
    clear: () => map.clear(),
  };
}

/** Installs a fresh fake document (and window, matchMedia, localStorage) globally; returns the uninstaller. */
export function installDom() {
  const names = ['document', 'window', 'matchMedia', 'localStorage'];
  const saved = names.map((n) => [n, Object.getOwnPropertyDescriptor(globalThis, n)]);
  const document = createDocument();
  const windowListeners = new Map();
  const window = {
    addEventListener(type, fn) {
      if (!windowListeners.has(type)) windowListeners.set(type, []);
      windowListeners.get(type).push(fn);
    },
    removeEventListener() {},
  };
  const values = {
    document,
    window,
    matchMedia: () => ({ matches: false, addEventListener() {}, removeEventListener() {} }),
    localStorage: createStorage(),
  };
  for (const n of names) Object.defineProperty(globalThis, n, { value: values[n], configurable: true, writable: true });
  return () => {
    for (const [n, d] of saved) {
      if (d) Object.defineProperty(globalThis, n, d);
      else delete globalThis[n];
    }
  };
}
