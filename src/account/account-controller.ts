import type { Request, Response } from 'express';

/** GET /account: the profile, with a link or a form for every account page. */
export const showAccount = (req: Request, res: Response) => {
  res.render('account', {
    error: undefined,
    fields: {},
    values: {},
    emailSent: req.query.emailSent === '1',
    emailChanged: req.query.emailChanged === '1',
  });
};
