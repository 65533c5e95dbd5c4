-- Whether the caller of a change made through the API is still live, checked in the change's own transaction as its
-- first statement (http/access.ts): a token revoked or expired, or a console session ended, on any replica before it
-- ran makes it fail with SQLSTATE OC401, which aborts the transaction. This lets a write by a caller verified lately
-- go ahead without waiting for a separate lookup first.
CREATE FUNCTION ocdn_caller_live(p_token text, p_session text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF p_token IS NULL THEN
    RETURN true;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM api_tokens WHERE id = p_token AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) THEN
    RAISE EXCEPTION 'the token was revoked or expired' USING ERRCODE = 'OC401';
  END IF;
  IF p_session IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sessions WHERE id = p_session AND token_id = p_token AND expires_at > now()) THEN
    RAISE EXCEPTION 'the console session ended' USING ERRCODE = 'OC401';
  END IF;
  RETURN true;
END $$;
