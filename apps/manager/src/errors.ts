/**
 * The one error services throw for an outcome the caller must hear about. It knows nothing of HTTP: the HTTP app
 * maps each code to a status in one place (http/errors.ts). The codes are the API's error codes.
 */
export const SERVICE_ERROR_CODES = ['bad_request', 'unauthorized', 'forbidden', 'not_found', 'conflict', 'payload_too_large', 'unsupported_media_type', 'unavailable'] as const;
export type ServiceErrorCode = (typeof SERVICE_ERROR_CODES)[number];

export class ServiceError extends Error {
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    /** What the caller needs to act: the fields at fault, the resource that conflicts. */
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

/** Bad input in one field: the message and the details name it. */
export const invalidField = (field: string, message: string) => new ServiceError('bad_request', `invalid ${field}: ${message}`, [{ field, message }]);
