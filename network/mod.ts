/**
 * The global-connection API (connect, logout, isGlobalConnected,
 * getGlobalIPv4) over one {@link CitadelNode}.
 *
 * @module
 */
export {};
