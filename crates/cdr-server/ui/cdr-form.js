// <cdr-form>: a form rendered from a web template, producing FLAT.
export class CdrForm extends HTMLElement {}
customElements.define('cdr-form', CdrForm);
