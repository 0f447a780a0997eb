/**
 * The one error type. Core functions throw it for bad input and broken invariants; the HTTP and
 * Discord doors render it (problem JSON / ephemeral reply). Business outcomes a caller branches on
 * (EXPIRED, HWID_MISMATCH, …) are returned as values instead.
 */
export interface ErrorDetail {
  path: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const badRequest = (message: string, code = 'VALIDATION_ERROR', details?: ErrorDetail[]) => new AppError(code, message, 400, details);
export const unauthorized = (message = 'Missing or invalid credentials') => new AppError('UNAUTHORIZED', message, 401);
export const forbidden = (message = 'Your role does not allow this action') => new AppError('FORBIDDEN', message, 403);
export const notFound = (what = 'Resource') => new AppError('NOT_FOUND', `${what} not found`, 404);
export const conflict = (message: string, code = 'CONFLICT') => new AppError(code, message, 409);
