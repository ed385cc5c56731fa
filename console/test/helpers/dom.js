// The widget's fake DOM (../../widget/test/helpers/dom.js), plus the few calls
// the console's views make that the widget's do not: the globals `Node` and
// `Element` (instanceof checks), removeChild, replaceChildren, insertBefore,
// contains, parentElement.
import { installDom as installWidgetDom } from '../../../widget/test/helpers/dom.js';

export function installDom() {
  const uninstall = installWidgetDom();
  const NodeClass = Object.getPrototypeOf(Object.getPrototypeOf(document.createElement('div'))).constructor;
  const proto = NodeClass.prototype;
  const added = [];
  const define = (name, fn) => {
    if (name in proto) return;
    Object.defineProperty(proto, name, { value: fn, configurable: true, writable: true });
    added.push(name);
  };
  define('removeChild', function removeChild(child) {
    child.remove();
    return child;
  });
  define('replaceChildren', function replaceChildren(...items) {
    for (const n of [...this.childNodes]) n.remove();
    this.append(...items);
  });
  define('insertBefore', function insertBefore(node, ref) {
    if (!ref) this.append(node);
    else {
      if (node.parentNode) node.remove();
      this.insertAt(this.childNodes.indexOf(ref), [node]);
    }
    return node;
  });
  define('contains', function contains(other) {
    for (let n = other; n; n = n.parentNode) if (n === this) return true;
    return false;
  });
  if (!('parentElement' in proto)) {
    Object.defineProperty(proto, 'parentElement', { get() { return this.parentNode && this.parentNode.tagName ? this.parentNode : null; }, configurable: true });
    added.push('parentElement');
  }
  const ElementClass = Object.getPrototypeOf(document.createElement('div')).constructor;
  if (!('closest' in ElementClass.prototype)) {
    Object.defineProperty(ElementClass.prototype, 'closest', {
      value(selector) {
        const alternatives = selector.split(',').map((x) => x.trim().split(/\s+/));
        for (let n = this; n && n.tagName; n = n.parentNode) if (alternatives.some((chain) => n.matchesChain(chain, null))) return n;
        return null;
      },
      configurable: true,
      writable: true,
    });
  }
  const saved = ['Node', 'Element'].map((n) => [n, Object.getOwnPropertyDescriptor(globalThis, n)]);
  Object.defineProperty(globalThis, 'Node', { value: NodeClass, configurable: true, writable: true });
  Object.defineProperty(globalThis, 'Element', { value: ElementClass, configurable: true, writable: true });
  return () => {
    for (const name of added) delete proto[name];
    delete ElementClass.prototype.closest;
    for (const [n, d] of saved) {
      if (d) Object.defineProperty(globalThis, n, d);
      else delete globalThis[n];
    }
    uninstall();
  };
}

/** Every element below `root` (the fake DOM keeps them as a tree; no innerHTML parser exists). */
export function elements(root) {
  return [...root.descendants()];
}
