import type { Request, Response } from 'express';
import type { ChatMessages } from './chat-messages.sql.js';
import { HISTORY_SIZE, MAX_MESSAGE_LENGTH } from './chat-rules.js';

/** GET /chat: the latest messages rendered on the server; public/chat.js makes the page live. */
export class ChatController {
  constructor(private readonly messages: ChatMessages) {}

  show = async (req: Request, res: Response) => {
    const messages = await this.messages.latest(HISTORY_SIZE);
    if (req.accepts(['html', 'json']) === 'json') return res.json({ messages });
    res.render('chat', { messages, maxLength: MAX_MESSAGE_LENGTH });
  };
}
