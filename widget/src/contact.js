/**
 * The visitor's contact on the conversation (`POST /api/chatbot/contact`):
 * what init said, then what each save answered. Pre-chat fields are staged
 * before there is a conversation and stored by `flush()` right after init
 * (once, however many sends wait for it); a refused one (4xx) is dropped, a
 * failed one (network, 429, 5xx) is tried again before the next send.
 */

/** The backend's rule (chalicelib/models.py, EMAIL): an ASCII local part of dot-separated atoms (at most 64
 * characters), a domain of letter-or-digit labels (Unicode ones too: the backend stores them as punycode)
 * whose last one starts with a letter and has two characters or more; 254 characters in all. */
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LABEL = "[\\p{L}\\p{N}](?:[\\p{L}\\p{N}-]{0,61}[\\p{L}\\p{N}])?";
const EMAIL = new RegExp(`^${ATOM}(?:\\.${ATOM})*@(?:${LABEL}\\.)+\\p{L}(?:[\\p{L}\\p{N}-]{0,61}[\\p{L}\\p{N}])$`, "u");
export const validEmail = (v) => v.length <= 254 && v.indexOf("@") <= 64 && EMAIL.test(v);

export function createContact({ post }) {
  let staged = null;
  let flushing = null;
  const contact = {
    /** {email, name, transcript} or null. */
    current: null,
    /** Pre-chat values ({name?, email?}) to store once the conversation exists; {} stages nothing. */
    stage(values) {
      staged = values && Object.keys(values).length ? values : null;
    },
    async save(body) {
      contact.current = (await post(body)).contact || null;
      return contact.current;
    },
    flush() {
      if (!staged) return Promise.resolve();
      const values = staged;
      flushing = flushing || contact.save(values).then(() => {
        if (staged === values) staged = null;
      }, (err) => {
        if (err && err.status >= 400 && err.status < 500 && err.status !== 429 && staged === values) staged = null;
        throw err;
      }).finally(() => {
        flushing = null;
      });
      return flushing;
    },
  };
  return contact;
}
