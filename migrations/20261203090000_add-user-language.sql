-- Up Migration
-- The language the user last used (pages, sign-in, the switch): their mail is written in it.
ALTER TABLE users ADD COLUMN language text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'ru'));

-- Down Migration
ALTER TABLE users DROP COLUMN language;
