export const MAX_MESSAGE_LENGTH = 2000;
/** At most RATE_LIMIT messages per RATE_WINDOW_MS per user, across all their sockets and processes. */
export const RATE_LIMIT = 10;
export const RATE_WINDOW_MS = 10_000;
export const HISTORY_SIZE = 50;

// Control characters other than newline and tab have no place in a chat message.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** The text of a chat:send payload, trimmed, or undefined when it breaks a rule. */
export function messageText(payload: unknown): string | undefined {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return undefined;
  const text = (payload as { text?: unknown }).text;
  if (typeof text !== 'string' || text.length > MAX_MESSAGE_LENGTH * 2) return undefined;
  const trimmed = text.trim();
  const length = [...trimmed].length;
  if (length === 0 || length > MAX_MESSAGE_LENGTH || CONTROL.test(trimmed)) return undefined;
  return trimmed;
}
