/**
 * The widget's words, in English and German. `data-locale` picks the table;
 * without it the browser's languages do, in the visitor's order of preference.
 */
export const STRINGS = {
  en: {
    title: 'Chat',
    greeting: 'Hi! How can we help?',
    open: 'Open chat',
    close: 'Close chat',
    minimize: 'Minimize chat',
    log: 'Messages',
    input: 'Your message',
    placeholder: 'Write a message…',
    hint: 'Enter sends, Shift+Enter starts a new line.',
    send: 'Send',
    retry: 'Retry',
    failed: 'Not sent.',
    sending: 'Sending…',
    quickly: 'You’re sending messages quickly — sending again in {n} s',
    you: 'You',
    agent: 'Team',
    typing: '{name} is typing',
    from: 'from: {titles}',
    suggest: 'Did you mean:',
    unread: '{n} unread',
    idle: '',
    connecting: 'Connecting…',
    connected: 'Online',
    polling: 'Online',
    reconnecting: 'Reconnecting…',
    offline: 'Offline, trying again…',
    bot: 'Bot · usually answers instantly',
    pending: 'Waiting for a person…',
    withAgent: '{name} from the team',
    resolved: 'Conversation resolved',
    handoff: 'Talk to a person',
    powered: 'Powered by Parley',
    menu: 'More options',
    transcript: 'Download transcript',
    delete: 'Delete conversation',
    confirmDelete: 'Delete this conversation and all its messages? This cannot be undone.',
    deleteYes: 'Delete',
    cancel: 'Cancel',
    notDone: 'That did not work. Please try again.',
    online: 'We’re online',
    reply: 'We reply {within}',
    hours: 'within {n} hours',
    hour1: 'within an hour',
    back: 'We’re back {when}',
    leave: '{when}. Leave your email address and we’ll write back.',
    email: 'Email',
    name: 'Name',
    optional: '{label} (optional)',
    wantTranscript: 'Email me a transcript when this is resolved',
    save: 'Save',
    thanks: 'Thanks — we’ll reply to {email} {within}',
    edit: 'edit',
    badEmail: 'Please enter a valid email address.',
    needed: 'Please fill this in.',
  },
  de: {
    title: 'Chat',
    greeting: 'Hallo! Wie können wir helfen?',
    open: 'Chat öffnen',
    close: 'Chat schließen',
    minimize: 'Chat minimieren',
    log: 'Nachrichten',
    input: 'Ihre Nachricht',
    placeholder: 'Nachricht schreiben …',
    hint: 'Die Eingabetaste sendet, Umschalt+Eingabetaste beginnt eine neue Zeile.',
    send: 'Senden',
    retry: 'Erneut senden',
    failed: 'Nicht gesendet.',
    sending: 'Wird gesendet …',
    quickly: 'Sie senden Nachrichten sehr schnell – erneutes Senden in {n} s',
    you: 'Sie',
    agent: 'Team',
    typing: '{name} schreibt',
    from: 'aus: {titles}',
    suggest: 'Meinten Sie:',
    unread: '{n} ungelesen',
    idle: '',
    connecting: 'Verbindung wird aufgebaut …',
    connected: 'Online',
    polling: 'Online',
    reconnecting: 'Verbindung wird wiederhergestellt …',
    offline: 'Offline, neuer Versuch läuft …',
    bot: 'Bot · antwortet meist sofort',
    pending: 'Warten auf eine Person …',
    withAgent: '{name} vom Team',
    resolved: 'Chat abgeschlossen',
    handoff: 'Mit einer Person sprechen',
    powered: 'Bereitgestellt von Parley',
    menu: 'Weitere Optionen',
    transcript: 'Verlauf herunterladen',
    delete: 'Chat löschen',
    confirmDelete: 'Diesen Chat mit allen Nachrichten löschen? Das lässt sich nicht rückgängig machen.',
    deleteYes: 'Löschen',
    cancel: 'Abbrechen',
    notDone: 'Das hat nicht geklappt. Bitte versuchen Sie es erneut.',
    online: 'Wir sind online',
    reply: 'Wir antworten {within}',
    hours: 'innerhalb von {n} Stunden',
    hour1: 'innerhalb einer Stunde',
    back: 'Wir sind ab {when} wieder da',
    leave: '{when}. Hinterlassen Sie Ihre E-Mail-Adresse, wir melden uns.',
    email: 'E-Mail',
    name: 'Name',
    optional: '{label} (optional)',
    wantTranscript: 'Verlauf per E-Mail senden, wenn das Anliegen erledigt ist',
    save: 'Speichern',
    thanks: 'Danke – wir antworten an {email} {within}',
    edit: 'ändern',
    badEmail: 'Bitte geben Sie eine gültige E-Mail-Adresse ein.',
    needed: 'Bitte füllen Sie dieses Feld aus.',
  },
};

/** The first supported language among `preferred` (e.g. "de-AT", "en"), else English. */
export function pickLocale(preferred) {
  for (const tag of preferred) {
    if (typeof tag !== 'string') continue;
    const lang = tag.trim().toLowerCase().split(/[-_]/)[0];
    if (Object.prototype.hasOwnProperty.call(STRINGS, lang)) return lang;
  }
  return 'en';
}

/** data-locale first, then navigator.languages / navigator.language. */
export function localeFrom(dataLocale, nav = globalThis.navigator) {
  const browser = (nav && (nav.languages && nav.languages.length ? nav.languages : [nav.language])) || [];
  return pickLocale(dataLocale ? [dataLocale, ...browser] : browser);
}

/** `t(key, {name})` with `{name}` placeholders filled in. */
export function translator(locale) {
  const table = STRINGS[locale] || STRINGS.en;
  return (key, vars) => {
    const text = table[key] ?? STRINGS.en[key] ?? key;
    return vars ? text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? '')) : text;
  };
}
